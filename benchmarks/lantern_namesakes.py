"""Lantern and namesakes: which leads to ask by a unique identifier only (``providers.lantern.unique_id_only``).

Lantern matches by name + company first, the LinkedIn id only when that fails, the email last. Two people with
one name at one company get the answer of the one it has on file first. The setting decides which leads are
asked by their LinkedIn id alone (else their email alone):

- ``never``: every lead sends all it has (the vendor's own order decides);
- ``namesakes``: only leads with a namesake at their company among the leads held (the default);
- ``always``: every lead that has a LinkedIn id or an email.

Every person of a sandbox world of ``--leads`` people is one lead (LinkedIn URL on 88% of them, work email on
85%, every lead with at least one: like the bundled sample), walked through the real engine and the real Lantern
client against the sandbox (its own process, no rate limit), once per setting, each from an empty response
store. Per setting: leads with a number (hit rate), wrong matches (a number that is not the lead's own mobile,
office line or switchboard: a namesake's), credits charged by the sandbox, and the same for the leads that have
a namesake.

    python benchmarks/lantern_namesakes.py [--leads 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SandboxProcess, print_table, report_header, sandbox_rate_patch, write_results

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.leads.namesakes import Namesakes
from enrichment_assets.sandbox.world import Person, World
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.registry import PROVIDER_NAMES, provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine

MODES = ("never", "namesakes", "always")


def _leads(world: World, seed: int) -> tuple[list[Lead], dict[str, Person]]:
    rng = random.Random(f"{seed}:lantern-namesakes")
    leads, truth = [], {}
    for person in world.people:
        linkedin = person.linkedin_url if rng.random() < 0.88 else None
        email = person.work_email if rng.random() < 0.85 else None
        if not linkedin and not email:
            email = person.work_email
        record_id = f"p{person.person_id}"
        leads.append(Lead("bench", record_id, person.first_name, person.last_name, person.company, person.domain,
                          email, linkedin, person.country))
        truth[record_id] = person
    return leads, truth


class _Rows:
    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)


def _walk(base_url: str, mode: str, leads: list[Lead], namesakes: Namesakes, workdir: Path) -> list:
    providers = {p: {"enabled": False} for p in PROVIDER_NAMES if p != "lantern"}
    providers["lantern"] = {"unique_id_only": mode, "rate_limit_per_second": 2000, "burst": 200,
                            "max_concurrency": 64}
    config = parse_config({"waterfall": {"order": ["lantern"], "stop_when": "never"}, "providers": providers})

    def factory(name: str, journal):
        client = provider_spec(name).client(config.provider(name), "bench-key-0000", base_url, journal)
        client.know_namesakes(namesakes)
        return client

    sink = _Rows()
    with ResponseStore(workdir / f"{mode}.sqlite") as store:
        engine = WaterfallEngine(config, factory, store, run_id=f"bench-{mode}", list_id="bench")
        asyncio.run(engine.run(leads, sink))
    return sink.rows


def _figures(rows: list, truth: dict[str, Person], subset: set[str] | None) -> dict[str, float]:
    chosen = [r for r in rows if subset is None or r.record_id in subset]
    found = [r for r in chosen if r.phones]
    wrong = [r for r in found
             if any(n not in (truth[r.record_id].mobile, truth[r.record_id].office, truth[r.record_id].switchboard)
                    for n in r.phones)]
    leads = len(chosen)
    return {"leads": leads, "found": len(found), "hit_rate": len(found) / leads if leads else 0.0,
            "wrong": len(wrong), "right": len(found) - len(wrong),
            "right_rate": (len(found) - len(wrong)) / leads if leads else 0.0,
            "credits": sum(r.credits for r in chosen)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="people in the world, each one lead")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    world = World(args.seed, args.leads)
    leads, truth = _leads(world, args.seed)
    namesakes = Namesakes.from_leads(leads)
    with_namesake = {lead.record_id for lead in leads if namesakes.has_namesake(lead)}
    report = report_header("lantern_namesakes", {"leads": args.leads, "seed": args.seed, "modes": list(MODES),
                                                 "leads_with_a_namesake": len(with_namesake)})
    results: dict[str, dict] = {}
    with SandboxProcess(world_size=args.leads, seed=args.seed, realistic=False) as sandbox, \
            tempfile.TemporaryDirectory(prefix="lantern-namesakes-") as tmp:
        sandbox.patch(sandbox_rate_patch(None))
        for mode in MODES:
            sandbox.reset()
            started = time.monotonic()
            rows = _walk(sandbox.url, mode, leads, namesakes, Path(tmp))
            charged = sandbox.stats()["vendors"]["lantern"]["credits_charged"]
            results[mode] = {"all": _figures(rows, truth, None), "with_namesake": _figures(rows, truth, with_namesake),
                             "credits_charged_by_vendor": charged, "seconds": round(time.monotonic() - started, 1)}
    report["results"] = results
    path = write_results("lantern_namesakes", report)

    table = []
    for mode, r in results.items():
        a, n = r["all"], r["with_namesake"]
        table.append([mode, a["leads"], f"{a['hit_rate']:.2%}", a["wrong"], f"{a['right_rate']:.2%}",
                      r["credits_charged_by_vendor"], n["leads"], f"{n['hit_rate']:.2%}", n["wrong"],
                      f"{n['right_rate']:.2%}"])
    print_table(f"Lantern, {args.leads:,} leads ({len(with_namesake)} with a namesake at their company)",
                ["unique_id_only", "leads", "hit rate", "wrong", "right-number rate", "credits",
                 "namesake leads", "hit rate", "wrong", "right-number rate"], table,
                note=f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

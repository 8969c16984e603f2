"""Cost model: does `waterfall.order: adaptive` buy personal mobiles cheaper, and is the forecast right?

On the sandbox (its coverage varies by country, enrichment_assets/sandbox/README.md): a first 5,000-lead list
walked in the fixed default order (the history), then a second 5,000-lead list of other people of the same
world, three ways: the fixed order; `order: adaptive` learned from the first list; and, as the ceiling, the
best order per segment chosen with hindsight from the sandbox's own answers (for each segment, of the 120
orders, the one finding the most mobiles at the lowest USD). Adaptive is also run without history (cold
start: priors only). Before each real run the forecast is made (`enrich estimate`'s code, in process) and
compared with the run's actual USD (the ledger).

The ceiling is computed, not run: every provider's answer to every lead of the second list is computed from
the sandbox in process (as benchmarks/_prefill.py does), priced by the config's rules, and each order's walk
is replayed over those answers. The same replay of the fixed order is checked against the real fixed run.

    python benchmarks/cost_model.py [--leads 5000] [--rps 400] [--seed 7] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PROVIDERS,
    SandboxProcess,
    enrich_env,
    print_table,
    rel,
    report_header,
    run_enrich,
    sandbox_rate_patch,
    staged_leads,
    vendor_calls,
    write_config,
    write_results,
)

#: USD per credit set by this benchmark (not the product's defaults): LeadMagic's smallest plan ($0.024,
#: docs/vendors.md); $0.02 for the others, whose prices this benchmark does not depend on being exact.
PRICES = {"leadmagic": 0.024, "pronto": 0.02, "enrichlayer": 0.02, "lantern": 0.02, "crustdata": 0.02}


# --------------------------------------------------------------------------- lead lists


def write_lists(workdir: Path, n: int, seed: int) -> tuple[Path, Path, int]:
    """Two lists of ``n`` distinct people each, no person in both, drawn from one world (messy CRM rows)."""
    from enrichment_assets.sandbox.sample_data import HEADER, _row
    from enrichment_assets.sandbox.world import World

    size = 2 * n + 2000
    world = World(seed, size)
    people = list(world.people)
    random.Random(f"{seed}:cost-model-bench").shuffle(people)
    rng = random.Random(f"{seed}:cost-model-bench:rows")
    paths = []
    for k, chunk in enumerate((people[:n], people[n:2 * n]), start=1):
        path = workdir / f"list{k}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(_row(rng, f"L{k}-{i:06d}", p) for i, p in enumerate(chunk))
        paths.append(path)
    return paths[0], paths[1], size


# --------------------------------------------------------------------------- the sandbox's answers, in process


async def sandbox_answers(leads_path: Path, list_id: str, world_size: int, seed: int, config_path: Path,
                          workdir: Path) -> list[dict]:
    """Per lead of the list: its segment and, per eligible provider, (USD, found a mobile by the stop rule)."""
    from starlette.requests import Request as StarletteRequest

    from enrichment_assets.config import load_config
    from enrichment_assets.cost_model.segments import segment_of
    from enrichment_assets.phones.parse import region_hints
    from enrichment_assets.sandbox.app import VENDOR_APIS
    from enrichment_assets.sandbox.config import SandboxConfig
    from enrichment_assets.sandbox.state import SandboxState
    from enrichment_assets.sandbox.vendor_api import Ctx
    from enrichment_assets.vendors import CLIENTS
    from enrichment_assets.vendors.exchange import Exchange
    from enrichment_assets.waterfall.pricing import LookupCharge, rule_credits
    from enrichment_assets.waterfall.stop_rule import meets_stop_rule

    config = load_config(config_path)
    state = SandboxState(SandboxConfig(seed=seed, world_size=world_size))
    apis = {name: cls(state) for name, cls in VENDOR_APIS.items()}
    clients = {p: CLIENTS[p](config.provider(p), "sandbox-key", "http://bench.invalid") for p in PROVIDERS}

    def scope(method: str, path: str, params: dict | None, headers: dict[str, str]) -> dict:
        return {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                "query_string": urlencode(params or {}).encode(), "root_path": "",
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                "scheme": "http", "server": ("bench", 80), "client": ("127.0.0.1", 1)}

    async def answer(provider: str, lead) -> tuple[float, list]:
        client = clients[provider]
        headers = {**client._base_headers(), "content-type": "application/json"}
        if provider == "crustdata":
            kind, value = client.identifier(lead)
            method, params, body = "POST", None, {kind: [value], "fields": client.fields}
        else:
            request = client.build_request(lead, client.request_identity(lead), "bench")
            method, params, body = request.method, request.params, request.json
        raw = json.dumps(body).encode() if body is not None else b""

        async def receive() -> dict:
            return {"type": "http.request", "body": raw, "more_body": False}

        api = apis[provider]
        ctx = Ctx("bench", time.perf_counter())
        parsed = await api.parse(StarletteRequest(scope(method, client.endpoint, params, headers), receive), ctx)
        outcome = api.lookup(parsed, state.vendor(provider), ctx)
        exchange = Exchange(attempt=None, status_code=outcome.status, headers=httpx.Headers(), body=outcome.body)
        if provider == "crustdata":
            result = client._element_result(exchange, [], outcome.body[0])
            phones, vendor_credits, matched = result.phones, None, result.matched
        elif provider == "enrichlayer" and outcome.status == 404:
            phones, vendor_credits, matched = [], None, None
        else:
            phones, vendor_credits = client.parse_success(outcome.body, exchange)
            matched = None
        credits = vendor_credits if vendor_credits is not None else rule_credits(
            config.provider(provider), [LookupCharge(numbers=len(phones), matched=matched)])
        return credits * config.provider(provider).usd_per_credit, phones

    out = []
    for lead in staged_leads(leads_path, list_id, workdir):
        hints = region_hints(lead.country, lead.domain)
        per = {}
        for provider in PROVIDERS:
            if clients[provider].ineligible_reason(lead) is not None:
                continue
            usd, phones = await answer(provider, lead)
            per[provider] = (usd, meets_stop_rule("mobile", phones, hints))
        out.append({"segment": segment_of(lead), "answers": per})
    return out


def replay(lead: dict, order: list[str]) -> tuple[float, bool]:
    """USD spent and whether a mobile was found, walking ``order`` over a lead's computed answers."""
    usd = 0.0
    for provider in order:
        answer = lead["answers"].get(provider)
        if answer is None:
            continue
        usd += answer[0]
        if answer[1]:
            return usd, True
    return usd, False


def ceiling(answers: list[dict]) -> dict:
    """Per segment, the order with the most mobiles at the lowest USD (over all 120), with hindsight."""
    by_segment: dict = defaultdict(list)
    for lead in answers:
        by_segment[lead["segment"]].append(lead)
    usd = mobiles = 0
    best_orders = {}
    for segment, leads in by_segment.items():
        best = None
        for order in itertools.permutations(PROVIDERS):
            walked = [replay(x, list(order)) for x in leads]
            score = (-sum(m for _, m in walked), sum(u for u, _ in walked))
            if best is None or score < best[0]:
                best = (score, order)
        (neg_mobiles, seg_usd), order = best
        usd += seg_usd
        mobiles += -neg_mobiles
        best_orders[str(segment)] = list(order)
    return {"usd": usd, "mobiles": mobiles, "orders": best_orders}


# --------------------------------------------------------------------------- runs


def forecast(workdir: Path, config_path: Path, leads_path: Path, list_id: str) -> dict:
    """What `enrich estimate` prints, computed in process against the workdir's database and store."""
    from enrichment_assets.config import load_config
    from enrichment_assets.cost_model.list_forecast import ListForecastInputs, forecast_staged_file
    from enrichment_assets.cost_model.rates import HitRateModel
    from enrichment_assets.leads.ingest import stage_lead_file
    from enrichment_assets.storage.segment_rates import load_model
    from enrichment_assets.waterfall.suppression import Suppression

    config = load_config(config_path)
    db = workdir / "enrichment.duckdb"
    conn = duckdb.connect(str(db), read_only=True) if db.exists() else None
    try:
        model = load_model(conn, config) if conn is not None else HitRateModel(config)
        inputs = ListForecastInputs(config, model, "sandbox", Suppression(),
                                    workdir / "enrichment.responses.sqlite", environ={})
        with tempfile.TemporaryDirectory() as tmp:
            staged, _, _ = stage_lead_file(leads_path, Path(tmp))
            started = time.perf_counter()
            f = forecast_staged_file(conn, inputs, list_id, staged)
            seconds = time.perf_counter() - started
    finally:
        if conn is not None:
            conn.close()
    return {"usd": f.usd, "usd_low": f.usd_low, "usd_high": f.usd_high, "calls": f.calls, "mobiles": f.mobiles,
            "free_leads": f.free_leads, "seconds": round(seconds, 2),
            "by_provider": {p.provider: {"calls": round(p.calls, 1), "usd": round(p.usd, 2)}
                            for p in f.providers.values()}}


def actual(workdir: Path, list_id: str, run_id: str) -> dict:
    with duckdb.connect(str(workdir / "enrichment.duckdb"), read_only=True) as conn:
        usd, calls = conn.execute("SELECT coalesce(sum(usd), 0), count(*) FROM credit_ledger WHERE run_id = ?",
                                  [run_id]).fetchone()
        leads, mobiles = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'mobile_found') FROM contacts WHERE list_id = ?",
            [list_id]).fetchone()
        by_provider = dict(conn.execute("SELECT provider, round(sum(usd), 2) FROM credit_ledger WHERE run_id = ? "
                                        "GROUP BY 1", [run_id]).fetchall())
    return {"usd": usd, "requests": calls, "leads": leads, "mobiles": mobiles, "by_provider": by_provider}


def one_run(label: str, workdir: Path, config_path: Path, leads: Path, list_id: str, sandbox: SandboxProcess) -> dict:
    env = enrich_env(workdir, config_path, sandbox.url)
    predicted = forecast(workdir, config_path, leads, list_id)
    sandbox.reset()
    run = run_enrich(leads, env, workdir, list_name=list_id, label=label)
    got = actual(workdir, list_id, run.run_id)
    got["sandbox_requests"] = sum(v["requests"] for v in vendor_calls(sandbox.stats()).values())
    got["wall_s"] = round(run.wall_s, 1)
    return {"forecast": predicted, "actual": got,
            "forecast_error": (predicted["usd"] - got["usd"]) / got["usd"] if got["usd"] else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--rps", type=float, default=400, help="sandbox and client rate limit per vendor")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    base = args.workdir or Path(tempfile.mkdtemp(prefix="cost-model-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    list1, list2, world_size = write_lists(base, args.leads, args.seed)
    configs = {}
    for name, waterfall in (("fixed", None), ("adaptive", {"order": "adaptive"})):
        path = base / f"{name}.yaml"
        extra = {p: {"usd_per_credit": PRICES[p]} for p in PROVIDERS}
        write_config(path, rps=args.rps, max_concurrency=64, crustdata_batch_wait=0.5, extra=extra)
        if waterfall:
            data = yaml.safe_load(path.read_text())
            data["waterfall"] = {**data["waterfall"], **waterfall}
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        configs[name] = path
    header = report_header("cost_model", {"leads": args.leads, "rps": args.rps, "seed": args.seed,
                                          "world_size": world_size, "usd_per_credit": PRICES,
                                          "exploration_share": 0.05, "prior_weight": 50, "workdir": str(base)})
    report: dict = {**header}
    with SandboxProcess(world_size=world_size, seed=args.seed, realistic=False, log=base / "sandbox.log") as sandbox:
        sandbox.patch(sandbox_rate_patch(args.rps, burst=int(args.rps)))
        history = base / "history"
        history.mkdir()
        first = one_run("list1-fixed", history, configs["fixed"], list1, "list1", sandbox)
        report["history_list1_fixed"] = first
        runs = {}
        for name in ("fixed", "adaptive"):
            workdir = base / f"list2-{name}"
            shutil.copytree(history, workdir)
            runs[f"{name}_with_history"] = one_run(f"list2-{name}", workdir, configs[name], list2, "list2", sandbox)
        cold = base / "list2-adaptive-cold"
        cold.mkdir()
        runs["adaptive_cold_start"] = one_run("list2-adaptive-cold", cold, configs["adaptive"], list2, "list2",
                                              sandbox)
        report["list2"] = runs

    answers = asyncio.run(sandbox_answers(list2, "list2", world_size, args.seed, configs["fixed"], base))
    best = ceiling(answers)
    fixed_replay = [replay(x, list(PROVIDERS)) for x in answers]
    report["ceiling"] = {"usd": best["usd"], "mobiles": best["mobiles"], "orders_by_segment": best["orders"],
                         "fixed_order_replayed": {"usd": sum(u for u, _ in fixed_replay),
                                                  "mobiles": sum(m for _, m in fixed_replay)}}
    leads = len(answers)

    def per_mobile(usd: float, mobiles: int) -> float:
        return usd / mobiles if mobiles else float("inf")

    fixed = runs["fixed_with_history"]["actual"]
    upm_fixed = per_mobile(fixed["usd"], fixed["mobiles"])
    upm_ceiling = per_mobile(best["usd"], best["mobiles"])
    rows, summary = [], {}
    for name, run in runs.items():
        a = run["actual"]
        upm = per_mobile(a["usd"], a["mobiles"])
        capture = (upm_fixed - upm) / (upm_fixed - upm_ceiling) if upm_fixed != upm_ceiling else None
        summary[name] = {
            "usd": a["usd"],
            "mobiles": a["mobiles"],
            "usd_per_mobile": upm,
            "recall": a["mobiles"] / leads,
            "capture_of_ceiling_saving": capture,
            "forecast_usd": run["forecast"]["usd"],
            "forecast_range": [run["forecast"]["usd_low"], run["forecast"]["usd_high"]],
            "forecast_error": run["forecast_error"],
        }
        rows.append([name, a["requests"], round(a["usd"], 2), a["mobiles"], round(a["mobiles"] / leads, 4),
                     round(upm, 4), None if capture is None else round(capture, 3), round(run["forecast"]["usd"], 2),
                     f"{run['forecast']['usd_low']:.2f}–{run['forecast']['usd_high']:.2f}",
                     None if run["forecast_error"] is None else f"{run['forecast_error']:+.1%}"])
    rows.append(["ceiling (hindsight, replayed)", None, round(best["usd"], 2), best["mobiles"],
                 round(best["mobiles"] / leads, 4), round(upm_ceiling, 4), 1.0, None, None, None])
    summary["ceiling"] = {"usd": best["usd"], "mobiles": best["mobiles"], "usd_per_mobile": upm_ceiling,
                          "recall": best["mobiles"] / leads}
    adaptive = summary["adaptive_with_history"]
    summary["targets"] = {
        "capture_at_least_0.7": adaptive["capture_of_ceiling_saving"] is not None
        and adaptive["capture_of_ceiling_saving"] >= 0.7,
        "recall_within_1_point": adaptive["recall"] >= summary["fixed_with_history"]["recall"] - 0.01,
        "forecast_within_15pct": all(abs(summary[k]["forecast_error"]) <= 0.15
                                     for k in ("fixed_with_history", "adaptive_with_history")),
    }
    report["summary"] = summary
    out = write_results("cost_model", report)
    print_table(f"Second list ({leads} leads), after a first list of {args.leads} in the fixed order",
                ["run", "requests", "USD", "mobiles", "recall", "USD/mobile", "capture", "forecast USD",
                 "forecast range", "forecast error"], rows,
                note=f"targets: {summary['targets']}; written to {rel(out)}; "
                     f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does a rerun pay only for what changed? (README, "Reruns touch only what changed").

One command:

    python benchmarks/incremental_rerun.py [--leads 100000] [--changed 0.01] [--fill sandbox|prefill]
                                           [--overlap-leads 10000]

Draws a lead list of distinct people from the sandbox world and enriches it once with the real
``enrich run`` (``--fill sandbox``, the default: against the sandbox in its own uvicorn process with
no latency and no rate limit, so the first run is quick and leaves the request journal a real run
leaves: one row per request, with its outcome and credits, which every later ledger sync reads;
``--fill prefill``: the response store is filled directly by ``benchmarks/_prefill.py`` and the first
run answers from it, which leaves the journal EMPTY: faster to set up, but a rerun's ledger step then
has no history to read, so its figure is not the one a user with that list would see). Then, with the
sandbox switched to realistic latency (p50 0.3 s, p95 1 s) and 50 rps per vendor:

1. the same file again, unchanged: target 0 vendor calls and <= 10 s, reported for the waterfall
   step (the run log's "Waterfall done in Xs") and for the whole ``enrich run``;
2. the file with ``--changed`` of its rows (1 %) replaced by other people of the world under the
   same record_id: only those leads may reach a vendor. Checked with the sandbox's
   ``/_sandbox/stats`` (requests per vendor) and the ledger (every row of the run names a changed
   record; LeadMagic, first in the waterfall, gets exactly one request per changed lead);
3. a second list of ``--overlap-leads`` other people of the first list's companies (its colleagues: many
   of their switchboards are already known from the first list), enriched against the sandbox without
   latency: its merge must re-score exactly the leads of the first list holding a number it newly shows as
   shared, and rewrite no other row of the first list (checked against ``contacts.enriched_at``);
4. the first list's file again, unchanged, against the realistic sandbox: 0 calls and <= 10 s still.

Every run's ledger rows are held to the sandbox BY CREDITS: per vendor, the credits the ledger booked
for the run equal the credits the sandbox charged during it (counters reset before each run).

Results: ``benchmarks/results/incremental_rerun.json``.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    PROVIDERS,
    RESULTS_DIR,
    SandboxProcess,
    bench_workdir,
    load,
    prefill_store,
    print_table,
    rel,
    report_header,
    run_enrich,
    sandbox_rate_patch,
    sandboxed_run,
    vendor_calls,
    write_config,
    write_results,
)

NAME = "incremental_rerun"
SEED = 7


def write_lists(n_leads: int, share: float, workdir: Path, overlap_leads: int = 0) -> tuple[Path, Path, Path | None,
                                                                                          dict]:
    """The list; the same list with ``share`` of its good rows replaced by other people (same record_id); and a
    second list of ``overlap_leads`` other people of the first list's companies (None when 0)."""
    from _common import world_size_for

    from enrichment_assets.sandbox.sample_data import (
        HEADER,
        _row,
        sample_people,
        write_sample_leads,
    )
    from enrichment_assets.sandbox.world import World

    size = world_size_for(n_leads + overlap_leads)
    world = World(SEED, size)
    original = workdir / "original" / "bench_incremental.csv"
    changed = workdir / "changed" / "bench_incremental.csv"
    rows = write_sample_leads(original, world, n=n_leads, seed=SEED)
    first = sample_people(world, n_leads - 2, SEED)
    used = {p.person_id for p in first}
    spare = [p for p in world.people if p.person_id not in used]
    rng = random.Random(f"{SEED}:incremental")
    rng.shuffle(spare)
    step = max(1, round(1 / share))
    new_rows = [list(r) for r in rows]
    changed_ids = []
    for i in range(200, len(new_rows), step):  # past the deliberately bad rows at the top
        record_id = new_rows[i][0].strip()
        if not record_id.startswith("CRM-"):
            continue
        new_rows[i] = _row(rng, record_id, spare.pop())
        changed_ids.append(record_id)
    _write_csv(changed, HEADER, new_rows)
    info = {"rows": len(rows), "world_size": size, "changed_rows": len(changed_ids), "changed_ids": changed_ids}
    if not overlap_leads:
        return original, changed, None, info
    companies = {p.company_id for p in first}
    colleagues = [p for p in spare if p.company_id in companies][:overlap_leads]
    overlap = workdir / "overlap" / "bench_overlap.csv"
    _write_csv(overlap, HEADER, [_row(rng, f"OVL-{i + 1:06d}", p) for i, p in enumerate(colleagues)])
    info.update(overlap_rows=len(colleagues), overlap_companies=len({p.company_id for p in colleagues}))
    return original, changed, overlap, info


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)


RESCORED = re.compile(r"re-scored (\d+) lead\(s\) of other lists")


def first_list_rewrites(db_path: Path, since: datetime) -> dict:
    """How many of the first list's contacts were written after ``since``, and whether each of them holds a
    number shared with colleagues now (the reason it may be re-scored)."""
    import duckdb

    with duckdb.connect(str(db_path), read_only=True) as conn:
        [(rewritten, holding_shared, total)] = conn.execute("""
            SELECT count(*) FILTER (WHERE c.enriched_at >= $since),
                   count(*) FILTER (WHERE c.enriched_at >= $since AND EXISTS (
                       SELECT 1 FROM contact_phones p WHERE p.record_id = c.record_id AND p.list_id = c.list_id
                       AND p.shared_with_others)),
                   count(*)
            FROM contacts c WHERE c.list_id = 'bench_incremental'""", {"since": since}).fetchall()
    return {"first_list_rows_rewritten": rewritten, "rewritten_holding_a_shared_number": holding_shared,
            "first_list_contacts": total}


def ledger_rows(db_path: Path, run_id: str) -> list[tuple[str, str | None, list[str] | None, float]]:
    import duckdb

    with duckdb.connect(str(db_path), read_only=True) as conn:
        return conn.execute("SELECT provider, record_id, record_ids, credits FROM credit_ledger WHERE run_id = ?",
                            [run_id]).fetchall()


def journal_size(db_path: Path) -> dict:
    """Rows of the request journal (one per request ever sent) and the ledger's rows, before a run."""
    import sqlite3

    import duckdb

    store = db_path.with_name(db_path.stem + ".responses.sqlite")
    with sqlite3.connect(store) as conn:
        attempts = conn.execute("SELECT count(*), coalesce(sum(credits), 0) FROM attempts").fetchone()
        responses = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    with duckdb.connect(str(db_path), read_only=True) as conn:
        ledger = conn.execute("SELECT count(*), coalesce(sum(credits), 0) FROM credit_ledger").fetchone()
    return {"journal_rows": attempts[0], "journal_credits": float(attempts[1]), "stored_responses": responses,
            "ledger_rows": ledger[0], "ledger_credits": float(ledger[1])}


def phase(label: str, leads_path: Path, env: dict, workdir: Path, sandbox: SandboxProcess,
          list_name: str = "bench_incremental") -> dict:
    sandbox.reset()
    load_before = load()
    run = run_enrich(leads_path, env, workdir, list_name=list_name, label=label)
    rescored = RESCORED.search(Path(run.log_path).read_text(encoding="utf-8", errors="replace"))
    calls = vendor_calls(sandbox.stats())
    rows = ledger_rows(Path(env["ENRICHMENT_DB"]), run.run_id)
    steps = {k: v["seconds"] for k, v in run.steps.items()}
    booked = dict.fromkeys(PROVIDERS, 0.0)
    for provider, _, _, credits in rows:
        booked[provider] += credits
    return {
        "label": label, "load_before": load_before, "load_after": load(),
        "wall_s": round(run.wall_s, 2), "waterfall_s": run.waterfall_s, "steps_s": steps,
        "vendor_requests": sum(c["requests"] for c in calls.values()),
        "requests_by_vendor": {p: calls[p]["requests"] for p in PROVIDERS},
        "accepted_by_vendor": {p: calls[p]["accepted"] for p in PROVIDERS},
        "rate_limited_429": sum(c["rate_limited"] for c in calls.values()),
        "ledger_rows": len(rows), "_ledger": rows,
        "sandbox_credits_by_vendor": {p: float(calls[p]["credits_charged"]) for p in PROVIDERS},
        "ledger_credits_by_vendor": booked,
        "ledger_credits_eq_sandbox": all(booked[p] == float(calls[p]["credits_charged"]) for p in PROVIDERS),
        "peak_rss_mb": round(max(run.peak_rss_mb_sampled, run.max_rss_mb_time_v or 0), 1),
        "cpu_s": round((run.cpu_user_s or 0) + (run.cpu_sys_s or 0), 1), "log": run.log_path,
        "rescored_leads_of_other_lists": int(rescored.group(1)) if rescored else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed (default 0.01)")
    parser.add_argument("--fill", choices=("sandbox", "prefill"), default="sandbox")
    parser.add_argument("--rps", type=float, default=50.0, help="vendor rate limit for the reruns (default 50)")
    parser.add_argument("--overlap-leads", type=int, default=10_000,
                        help="a second list of the first one's colleagues (default 10000; 0: skip)")
    parser.add_argument("--workdir", type=Path, help="keep the run folder here (default: a temp folder, deleted)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {
        "leads": args.leads, "changed_share": args.changed, "fill": args.fill, "rerun_rps": args.rps,
        "overlap_leads": args.overlap_leads,
        "rerun_latency": {"p50": 0.3, "p95": 1.0},
        "fill_run": "sandbox with no latency and no rate limit, client 2000 rps x 64 in flight per vendor"
                    if args.fill == "sandbox" else "benchmarks/_prefill.py, then enrich run",
        "targets": {"unchanged_vendor_calls": 0, "unchanged_seconds": 10},
    })
    with bench_workdir(args.workdir, "bench-incremental-") as work:
        original, changed, overlap_file, info = write_lists(args.leads, args.changed, work, args.overlap_leads)
        report["lead_file"] = {k: v for k, v in info.items() if k != "changed_ids"}
        changed_ids = set(info["changed_ids"])
        config_path = work / "enrichment.yaml"
        write_config(config_path, rps=2000 if args.fill == "sandbox" else args.rps, max_concurrency=64)
        with sandboxed_run(work, config_path, world_size=info["world_size"]) as (sandbox, env):
            if args.fill == "prefill":
                report["prefill_s"] = prefill_store(original, work, list_name="bench_incremental",
                                                    world_size=info["world_size"], config_path=config_path)["wall_s"]
            sandbox.patch(sandbox_rate_patch(None, p50=0.0, p95=0.0))
            print(f"first run of {args.leads:,} leads (fill: {args.fill}; load {load()}) ...", flush=True)
            first = phase("first", original, env, work, sandbox)
            print(f"  {first['wall_s']}s, {first['vendor_requests']:,} vendor requests", flush=True)
            history = journal_size(Path(env["ENRICHMENT_DB"]))
            print(f"  journal before the reruns: {history}", flush=True)
            if args.fill == "prefill":
                print("  NOTE: --fill prefill leaves the request journal empty; the reruns' ledger step has no "
                      "history to read, unlike a real user's", flush=True)

            # The reruns see realistic vendors: any request that should not happen costs real time.
            write_config(config_path, rps=args.rps, max_concurrency=64)
            sandbox.patch(sandbox_rate_patch(args.rps, p50=0.3, p95=1.0))
            print(f"rerun, unchanged (load {load()}) ...", flush=True)
            same = phase("unchanged", original, env, work, sandbox)
            print(f"  {same['wall_s']}s (waterfall {same['waterfall_s']}s), {same['vendor_requests']} vendor "
                  f"requests", flush=True)
            print(f"rerun, {len(changed_ids):,} rows changed (load {load()}) ...", flush=True)
            delta = phase("changed", changed, env, work, sandbox)
            print(f"  {delta['wall_s']}s (waterfall {delta['waterfall_s']}s), {delta['vendor_requests']} vendor "
                  f"requests", flush=True)
            overlap = after = rewrites = None
            if overlap_file is not None:
                # The colleagues' list is filled fast: what is measured is its merge re-scoring the first list.
                write_config(config_path, rps=2000, max_concurrency=64)
                sandbox.patch(sandbox_rate_patch(None, p50=0.0, p95=0.0))
                print(f"second list, {info['overlap_rows']:,} colleagues (load {load()}) ...", flush=True)
                started = datetime.now(UTC)
                overlap = phase("overlap", overlap_file, env, work, sandbox, list_name="bench_overlap")
                rewrites = first_list_rewrites(Path(env["ENRICHMENT_DB"]), started)
                print(f"  {overlap['wall_s']}s (merge {overlap['steps_s'].get('merge_contacts')}s), re-scored "
                      f"{overlap['rescored_leads_of_other_lists']:,} leads of the first list", flush=True)
                write_config(config_path, rps=args.rps, max_concurrency=64)
                sandbox.patch(sandbox_rate_patch(args.rps, p50=0.3, p95=1.0))
                print(f"rerun of the first list, unchanged, after the second (load {load()}) ...", flush=True)
                after = phase("unchanged_after_overlap", changed, env, work, sandbox)
                print(f"  {after['wall_s']}s (waterfall {after['waterfall_s']}s), {after['vendor_requests']} vendor "
                      f"requests", flush=True)

    touched: set[str] = set()
    for _, record_id, record_ids, _ in delta["_ledger"]:
        if record_id:
            touched.add(record_id)
        touched.update(record_ids or [])
    outside = sorted(touched - changed_ids)
    checks = {
        "unchanged_zero_vendor_calls": same["vendor_requests"] == 0 and same["ledger_rows"] == 0,
        "unchanged_waterfall_le_10s": same["waterfall_s"] is not None and same["waterfall_s"] <= 10,
        "unchanged_whole_run_le_10s": same["wall_s"] <= 10,
        "changed_only_changed_records_called": not outside,
        "changed_leadmagic_requests_eq_changed_rows": delta["accepted_by_vendor"]["leadmagic"] == len(changed_ids),
        "changed_sandbox_requests_eq_ledger_rows": delta["vendor_requests"] == delta["ledger_rows"],
        "changed_ledger_credits_eq_sandbox": delta["ledger_credits_eq_sandbox"],
        "first_ledger_credits_eq_sandbox": first["ledger_credits_eq_sandbox"],
        "journal_holds_the_first_run": history["journal_rows"] >= first["ledger_rows"] > 0,
    }
    if overlap is not None:
        checks.update({
            "overlap_rescored_eq_first_list_rows_rewritten":
                overlap["rescored_leads_of_other_lists"] == rewrites["first_list_rows_rewritten"],
            "overlap_rewritten_rows_hold_a_shared_number":
                rewrites["rewritten_holding_a_shared_number"] == rewrites["first_list_rows_rewritten"],
            "after_overlap_unchanged_zero_vendor_calls": after["vendor_requests"] == 0 and after["ledger_rows"] == 0,
            "after_overlap_unchanged_whole_run_le_10s": after["wall_s"] <= 10,
        })
    phases = [p for p in (first, same, delta, overlap, after) if p is not None]
    for p in phases:
        p.pop("_ledger")
    report.update({"history_before_reruns": history,
                   "first_run": first, "unchanged": same, "changed": delta, "changed_records": len(changed_ids),
                   "changed_records_reaching_vendors": len(touched & changed_ids),
                   "records_outside_changed_set_called": outside[:20], "overlap": overlap,
                   "overlap_first_list": rewrites, "unchanged_after_overlap": after, "checks": checks})

    rows = []
    for p in phases:
        rows.append([p["label"], p["wall_s"], p["waterfall_s"], p["steps_s"].get("lead_ingestion"),
                     p["steps_s"].get("merge_contacts"), p["vendor_requests"], p["ledger_rows"],
                     " ".join(f"{k[:2]}{v}" for k, v in p["requests_by_vendor"].items() if v),
                     p["rescored_leads_of_other_lists"], "/".join(f"{x:.2f}" for x in p["load_before"])])
    print_table(f"Rerunning a {args.leads:,}-lead list (enrich run)",
                ["run", "whole run s", "waterfall s", "ingest s", "merge s", "vendor requests", "ledger rows",
                 "by vendor", "re-scored other list", "load 1/5/15"], rows,
                note=f"changed rows: {len(changed_ids):,}; " + ", ".join(f"{k}: {'ok' if v else 'MISSED'}"
                                                                       for k, v in checks.items()))
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

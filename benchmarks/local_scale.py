"""How do ingestion, the waterfall walk and the merge scale when every vendor answer is already stored?

One command:

    python benchmarks/local_scale.py [--leads 100000 300000 1000000]

For each list size: draw a list of distinct people from the sandbox world, fill the response store
for it directly (``benchmarks/_prefill.py``: the engine's walk and request fingerprints, the
sandbox's own answers computed in process, no HTTP; filling a 1M-lead store through the sandbox
over HTTP would take hours), then time the real ``enrich run`` on it with its own DAGSTER_HOME and
DuckDB. Every request is answered from the store; the vendors' base URLs point at a sandbox process
(small world, no latency) whose request counter must stay at 0, and the ledger must have no row for
the run. Reported per size: wall time, the time of each step (ingestion, waterfall, merge, ledger,
marts, dbt), and the peak RSS of the ``enrich`` process (``/usr/bin/time -v`` and a /proc sampler
every 0.2 s, split by step; children such as dbt separately). Target: peak RSS <= 1 GB and flat
in list size. Results: ``benchmarks/results/local_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    RESULTS_DIR,
    ROOT,
    bench_workdir,
    git_revision,
    ledger_calls,
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

from enrichment_assets.storage.warehouse import memory_limit

NAME = "local_scale"
STEP_LABELS = {"lead_ingestion": "ingest", "waterfall": "waterfall", "merge_contacts": "merge",
               "credit_ledger": "ledger", "provider_performance": "performance", "published_marts": "marts"}


def prepare(n_leads: int, workdir: Path, config_path: Path) -> dict:
    leads_path = workdir / f"scale_{n_leads}.csv"
    info = subprocess.run(
        [sys.executable, "-c",
         "import json,sys; sys.path.insert(0, 'benchmarks'); from _common import write_leads; "
         f"print(json.dumps(write_leads(__import__('pathlib').Path({str(leads_path)!r}), {n_leads})))"],
        cwd=str(ROOT), capture_output=True, text=True, check=True)
    lead_info = json.loads(info.stdout.strip().splitlines()[-1])
    prefill = prefill_store(leads_path, workdir, list_name=leads_path.stem, world_size=lead_info["world_size"],
                            config_path=config_path)
    return {"lead_file": lead_info, "prefill": prefill, "leads_path": str(leads_path)}


def reusable(n_leads: int, workdir: Path) -> dict | None:
    """The lead file and filled store of an earlier run in ``workdir`` (``--reuse``), its DuckDB and instance wiped."""
    info = workdir / "prepared.json"
    if not (info.exists() and (workdir / f"scale_{n_leads}.csv").exists()
            and (workdir / "enrichment.responses.sqlite").exists()):
        return None
    for name in ("enrichment.duckdb", "enrichment.duckdb.wal", "dagster_home", "marts"):
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    prep = json.loads(info.read_text())
    prep["reused"] = True
    return prep


def run_one(n_leads: int, workdir: Path, keep: bool, reuse: bool = False) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "enrichment.yaml"
    write_config(config_path, rps=50, max_concurrency=64)
    prep = reusable(n_leads, workdir) if reuse else None
    if prep is None:
        prep = prepare(n_leads, workdir, config_path)
        (workdir / "prepared.json").write_text(json.dumps(prep))
    with sandboxed_run(workdir, config_path, world_size=3000) as (sandbox, env):
        sandbox.patch(sandbox_rate_patch(None))
        sandbox.reset()
        load_before = load()
        run = run_enrich(Path(prep["leads_path"]), env, workdir, label=f"enrich_{n_leads}")
        load_after = load()
        calls = vendor_calls(sandbox.stats())
    ledger = ledger_calls(workdir / "enrichment.duckdb", run.run_id) if run.run_id else {}
    steps = {STEP_LABELS.get(k, k): {**v, **run.step_memory.get(k, {})} for k, v in run.steps.items()}
    for v in steps.values():
        v.pop("start_epoch", None)
        v.pop("end_epoch", None)
    result = {
        "leads": n_leads, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": load_before, "load_after": load_after, **{k: v for k, v in prep.items() if k != "leads_path"},
        "git": git_revision(),
        "wall_s": round(run.wall_s, 1), "waterfall_s": run.waterfall_s,
        "peak_rss_mb": round(max(run.peak_rss_mb_sampled, run.max_rss_mb_time_v or 0), 1),
        "max_rss_mb_time_v": run.max_rss_mb_time_v, "peak_children_rss_mb": round(run.peak_children_rss_mb, 1),
        "cpu_s": round((run.cpu_user_s or 0) + (run.cpu_sys_s or 0), 1),
        "vendor_requests": sum(c["requests"] for c in calls.values()), "ledger_rows_this_run": sum(ledger.values()),
        "waterfall_requests_logged": run.waterfall_requests,
        "steps": steps,
        "enrich_run": {k: v for k, v in run.summary().items() if k not in ("steps", "step_memory")},
    }
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, help="keep the run folders here (default: a temp folder, deleted)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --workdir: reuse the lead files and filled stores of an earlier run there")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {
        "store": "pre-filled by benchmarks/_prefill.py (engine walk and fingerprints, sandbox answers in process)",
        "vendors": "every <V>_BASE_URL at a sandbox process (world 3000, no latency, no limits): its request "
                   "counter must stay 0",
        "memory": "peak RSS of the enrich process: /usr/bin/time -v (ru_maxrss) and a /proc/<pid>/status "
                  "VmRSS sampler every 0.2 s; children (dbt) sampled separately",
        "duckdb_memory_limit": memory_limit(),
    })
    previous = {}
    if args.output.exists():
        try:
            previous = {r["leads"]: r for r in json.loads(args.output.read_text()).get("runs", [])}
        except (ValueError, KeyError):
            previous = {}
    fresh = {}
    with bench_workdir(args.workdir, "bench-scale-") as base:
        for n in args.leads:
            print(f"{n:,} leads (load {load()}) ...", flush=True)
            fresh[n] = r = run_one(n, base / f"leads_{n}", keep=args.workdir is not None, reuse=args.reuse)
            print(f"  prefill {r['prefill']['wall_s']}s ({r['prefill']['total_responses']:,} responses); run "
                  f"{r['wall_s']}s, waterfall {r['waterfall_s']}s, peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"vendor requests {r['vendor_requests']}", flush=True)
    runs = sorted({**previous, **fresh}.values(), key=lambda r: r["leads"])
    report["runs"] = runs

    def step(r: dict, key: str, field: str = "seconds"):
        return r["steps"].get(key, {}).get(field)

    rows = [[f"{r['leads']:,}" + ("" if r["leads"] in fresh else " (earlier)"), r["wall_s"], step(r, "ingest"),
             step(r, "waterfall"), r["waterfall_s"], step(r, "merge"), step(r, "ledger"), step(r, "marts"),
             r["peak_rss_mb"], step(r, "ingest", "peak_rss_mb"), step(r, "waterfall", "peak_rss_mb"),
             step(r, "merge", "peak_rss_mb"), r["peak_children_rss_mb"], r["vendor_requests"],
             "/".join(f"{x:.2f}" for x in r["load_before"])] for r in runs]
    print_table("Local work with every vendor answer in the store (enrich run)",
                ["leads", "wall s", "ingest s", "waterfall step s", "engine s", "merge s", "ledger s", "marts s",
                 "peak RSS MB", "RSS ingest", "RSS waterfall", "RSS merge", "children MB", "vendor calls",
                 "load 1/5/15"], rows,
                note="target: peak RSS <= 1,024 MB and flat in list size; vendor calls must be 0")
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

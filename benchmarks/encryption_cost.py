"""What does encrypting the response store cost? (README, "Personal data").

One command:

    python benchmarks/encryption_cost.py [--store-answers 20000] [--waterfall-leads 10000] [--rerun-leads 100000]
                                         [--rps 400] [--workdir DIR]

Each part runs twice, without and with ``ENRICHMENT_ENCRYPTION_KEY``:

1. **The store alone**: ``--store-answers`` sample answers written one transaction each (as settlement does), then
   each looked up by its fingerprint; CPU seconds per write and per read, and the file size.
2. **The waterfall**: a ``--waterfall-leads`` list through the real ``enrich run`` against the sandbox in its own
   process, no latency, ``--rps`` per vendor: the waterfall step's time, the whole run, the run's CPU seconds.
3. **The unchanged rerun**: a ``--rerun-leads`` list whose answers are put in the store by ``_prefill.py`` (for
   the encrypted side, then encrypted with ``enrich rotate-key``, timed), enriched once from the store, then run
   again unchanged: the whole ``enrich run``, target <= 10 s.

Results: ``benchmarks/results/encryption_cost.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import (
    RESULTS_DIR,
    ROOT,
    VENV_BIN,
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
    write_leads,
    write_results,
)

NAME = "encryption_cost"
KEY = "benchmark-key-not-a-secret-0123456789abcdef"
MODES = ("plain", "encrypted")


def store_micro(n: int, workdir: Path) -> dict:
    from enrichment_assets.storage.response_store import ResponseStore, StoredResponse
    from enrichment_assets.storage.store_crypto import PLAIN, cipher_for

    out = {}
    now = datetime.now(UTC)
    for mode in MODES:
        path = workdir / f"micro-{mode}.sqlite"
        cipher = cipher_for(KEY) if mode == "encrypted" else PLAIN
        answers = [StoredResponse(f"fp-{i:08d}", "leadmagic", "found", [(f"+4474001{i:05d}", "mobile")],
                                  {"mobile_number": f"+4474001{i:05d}", "email": f"person{i}@example.com",
                                   "credits_consumed": 5, "message": "Mobile number found"}, 200, 5.0, None, now)
                   for i in range(n)]
        with ResponseStore(path, cipher) as store:
            cpu = time.process_time()
            for answer in answers:
                store.record_outcome([], [answer])
            write_cpu = time.process_time() - cpu
            cpu = time.process_time()
            for answer in answers:
                assert store.fresh_response(answer.request_fingerprint, timedelta(days=1)) is not None
            read_cpu = time.process_time() - cpu
        out[mode] = {"answers": n, "write_cpu_ms_per_answer": round(write_cpu / n * 1000, 4),
                     "read_cpu_ms_per_answer": round(read_cpu / n * 1000, 4),
                     "file_bytes": path.stat().st_size}
    return out


def waterfall(n: int, rps: float, workdir: Path) -> dict:
    out = {}
    for mode in MODES:
        work = workdir / f"waterfall-{mode}"
        work.mkdir(parents=True)
        leads = write_leads(work / "bench_encryption.csv", n)
        config = work / "enrichment.yaml"
        write_config(config, rps=rps, max_concurrency=64)
        with sandboxed_run(work, config, world_size=leads["world_size"]) as (sandbox, env):
            sandbox.patch(sandbox_rate_patch(rps, p50=0.0, p95=0.0))
            if mode == "encrypted":
                env["ENRICHMENT_ENCRYPTION_KEY"] = KEY
            before = load()
            print(f"waterfall {n:,} leads, {mode} (load {before}) ...", flush=True)
            run = run_enrich(Path(leads["path"]), env, work, label=mode)
            calls = vendor_calls(sandbox.stats())
        out[mode] = {"load_before": before, "load_after": load(), "wall_s": round(run.wall_s, 2),
                     "waterfall_s": run.waterfall_s, "vendor_requests": sum(c["requests"] for c in calls.values()),
                     "cpu_s": round((run.cpu_user_s or 0) + (run.cpu_sys_s or 0), 1),
                     "store_bytes": (work / "enrichment.responses.sqlite").stat().st_size}
        print(f"  waterfall {run.waterfall_s}s, whole run {run.wall_s:.1f}s, CPU {out[mode]['cpu_s']}s", flush=True)
    return out


def unchanged_rerun(n: int, workdir: Path) -> dict:
    out = {}
    for mode in MODES:
        work = workdir / f"rerun-{mode}"
        work.mkdir(parents=True)
        leads = write_leads(work / "bench_rerun.csv", n)
        config = work / "enrichment.yaml"
        write_config(config, rps=50, max_concurrency=64)
        entry: dict = {}
        with sandboxed_run(work, config, world_size=leads["world_size"]) as (sandbox, env):
            entry["prefill_s"] = prefill_store(Path(leads["path"]), work, list_name="bench_rerun",
                                               world_size=leads["world_size"], config_path=config)["wall_s"]
            if mode == "encrypted":
                started = time.perf_counter()
                subprocess.run([str(VENV_BIN / "enrich"), "rotate-key"], cwd=str(ROOT), check=True,
                               capture_output=True, env={**env, "ENRICHMENT_NEW_ENCRYPTION_KEY": KEY})
                entry["rotate_key_s"] = round(time.perf_counter() - started, 1)
                env["ENRICHMENT_ENCRYPTION_KEY"] = KEY
            print(f"first run of {n:,} leads from the store, {mode} (load {load()}) ...", flush=True)
            first = run_enrich(Path(leads["path"]), env, work, label=f"{mode}-first")
            entry["first_run_s"] = round(first.wall_s, 1)
            before = load()
            print(f"unchanged rerun, {mode} (load {before}) ...", flush=True)
            same = run_enrich(Path(leads["path"]), env, work, label=f"{mode}-unchanged")
            calls = vendor_calls(sandbox.stats())
        entry.update({"load_before": before, "load_after": load(), "wall_s": round(same.wall_s, 2),
                      "waterfall_s": same.waterfall_s, "waterfall_requests": same.waterfall_requests,
                      "vendor_requests_all_runs": sum(c["requests"] for c in calls.values()),
                      "cpu_s": round((same.cpu_user_s or 0) + (same.cpu_sys_s or 0), 1),
                      "store_bytes": (work / "enrichment.responses.sqlite").stat().st_size})
        out[mode] = entry
        print(f"  {same.wall_s:.2f}s (waterfall {same.waterfall_s}s)", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-answers", type=int, default=20_000)
    parser.add_argument("--waterfall-leads", type=int, default=10_000, help="0: skip")
    parser.add_argument("--rerun-leads", type=int, default=100_000, help="0: skip")
    parser.add_argument("--rps", type=float, default=400.0, help="vendor rate limit of the waterfall part")
    parser.add_argument("--workdir", type=Path, help="keep the run folders here (default: a temp folder, deleted)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {"store_answers": args.store_answers, "waterfall_leads": args.waterfall_leads,
                                  "rerun_leads": args.rerun_leads, "rps": args.rps,
                                  "targets": {"unchanged_rerun_seconds": 10}})
    with bench_workdir(args.workdir, "bench-encryption-") as work:
        report["store"] = store_micro(args.store_answers, work)
        if args.waterfall_leads:
            report["waterfall"] = waterfall(args.waterfall_leads, args.rps, work)
        if args.rerun_leads:
            report["unchanged_rerun"] = unchanged_rerun(args.rerun_leads, work)

    s = report["store"]
    rows = [
        [
            "store write, CPU ms/answer",
            s["plain"]["write_cpu_ms_per_answer"],
            s["encrypted"]["write_cpu_ms_per_answer"],
        ],
        ["store read, CPU ms/answer", s["plain"]["read_cpu_ms_per_answer"], s["encrypted"]["read_cpu_ms_per_answer"]],
    ]
    for part, label in (("waterfall", f"{args.waterfall_leads:,}-lead waterfall"),
                        ("unchanged_rerun", f"{args.rerun_leads:,}-lead unchanged rerun")):
        if part in report:
            p, e = report[part]["plain"], report[part]["encrypted"]
            rows.append([f"{label}: waterfall step s", p["waterfall_s"], e["waterfall_s"]])
            rows.append([f"{label}: whole run s", p["wall_s"], e["wall_s"]])
            rows.append([f"{label}: CPU s", p["cpu_s"], e["cpu_s"]])
    if "unchanged_rerun" in report:
        report["checks"] = {f"unchanged_rerun_le_10s_{m}": report["unchanged_rerun"][m]["wall_s"] <= 10
                            for m in MODES}
    print_table("Encryption at rest: without and with ENRICHMENT_ENCRYPTION_KEY", ["", "plain", "encrypted"], rows)
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Many crash tests in a row: SIGKILL `enrich run` at many seeded points, rerun, hold the ledger to the sandbox.

One command:

    python benchmarks/crash_soak.py [--seeds 20] [--first-seed 1] [--kills 5]

Runs ``enrichment_assets_tests/reliability/test_crash_safety.py`` once per seed (``RELIABILITY_SEED`` =
first-seed, first-seed + 1, ...) with ``RELIABILITY_KILLS`` kill points each (the first in the waterfall
walk, the others in distinct stages: ingestion, merge, ledger sync, dbt; see
``enrichment_assets_tests/support/crash.py``). Each kill is followed by a rerun whose ledger must equal
what the sandbox charged (but for answers to requests the kill left ``unknown``). CI runs one seed with
two kills; this runs as many as you like. A failing seed is printed with the command that replays it.
Results: ``benchmarks/results/crash_soak.json`` (per seed: pass/fail and where each kill landed).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from _common import RESULTS_DIR, ROOT, load, print_table, rel, report_header, write_results

NAME = "crash_soak"
TEST = "enrichment_assets_tests/reliability/test_crash_safety.py"
SUMMARY = re.compile(r"RELIABILITY_SEED=\d+: (.*)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--output", default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {"seeds": args.seeds, "first_seed": args.first_seed, "kills_per_seed": args.kills,
                                  "test": TEST})
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        env = {**os.environ, "RELIABILITY_SEED": str(seed), "RELIABILITY_KILLS": str(args.kills)}
        load_before = load()
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        found = SUMMARY.search(proc.stdout)
        runs.append({"seed": seed, "passed": proc.returncode == 0, "seconds": round(time.perf_counter() - started, 1),
                     "kills": found.group(1) if found else None, "load_before": load_before,
                     "failure": None if proc.returncode == 0 else proc.stdout[-3000:]})
        status = "ok" if proc.returncode == 0 else f"FAILED (replay: RELIABILITY_SEED={seed} " \
                                                  f"RELIABILITY_KILLS={args.kills} pytest {TEST})"
        print(f"seed {seed}: {status}; {runs[-1]['kills']}", flush=True)
    report["runs"] = runs
    report["passed"] = sum(r["passed"] for r in runs)
    print_table("Crash soak", ["seed", "passed", "s", "kills"],
                [[r["seed"], r["passed"], r["seconds"], r["kills"]] for r in runs])
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0 if report["passed"] == len(runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

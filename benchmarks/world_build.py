"""How long does the sandbox take to build its world of people? (a test once asserted "30k people in < 5 s")

One command:

    python benchmarks/world_build.py [--sizes 3000 30000 300000] [--repeat 3]

Builds ``World(7, size)`` in this process ``--repeat`` times per size and reports the best and the median
wall time, with the machine's load. The benchmarks build worlds of 1.1x the list size (1.1M people for the
1M-lead local-scale run), so this is part of their set-up time. Results: ``benchmarks/results/world_build.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import RESULTS_DIR, load, print_table, rel, report_header, write_results

NAME = "world_build"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_000, 30_000, 300_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    from enrichment_assets.sandbox.world import World

    report = report_header(NAME, {"seed": 7, "sizes": args.sizes, "repeat": args.repeat})
    runs = []
    for size in args.sizes:
        times = []
        for _ in range(args.repeat):
            load_before = load()
            started = time.perf_counter()
            world = World(7, size)
            times.append(time.perf_counter() - started)
            assert len(world) == size
            del world
        runs.append({"people": size, "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3),
                     "all_s": [round(t, 3) for t in times], "load_before": load_before})
    report["runs"] = runs
    print_table("Building the sandbox world", ["people", "best s", "median s", "load 1/5/15"],
                [[f"{r['people']:,}", r["best_s"], r["median_s"], "/".join(f"{x:.2f}" for x in r["load_before"])]
                 for r in runs])
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

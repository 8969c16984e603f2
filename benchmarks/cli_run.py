"""What `enrich run` costs around its waterfall: time to the first step, lines printed, whole run vs waterfall step.

One command:

    python benchmarks/cli_run.py [--sample-runs 2] [--leads 1000] [--code DIR --label NAME] [--verbose]

Runs the real ``enrich run`` as the README's quickstart does (``sandbox`` mode: the embedded vendor sandbox,
the repo's ``enrichment.yaml``), each time with a fresh DAGSTER_HOME, DuckDB and response store in a temp
folder, stdout and stderr to files (not a terminal, as in CI or a pipe):

- the bundled sample list (``data/inbox/sample_leads.csv``), ``--sample-runs`` times: wall time, time from
  starting the process to the first step's STEP_START in the Dagster event log, lines printed;
- a ``--leads`` list (default 1,000) drawn from the embedded sandbox's world (seed 7, 3,000 people): the whole
  run's wall time against its waterfall step (STEP_START to STEP_SUCCESS in the event log; the engine's own
  time next to it), and each step's time, so the rest is accounted for. Goal: whole run <= 1.25x the step.

``--code DIR`` runs another checkout of the package (e.g. ``git archive main | tar -x -C DIR``) to measure a
before/after; ``--label`` names the entry in ``benchmarks/results/cli_run.json`` (one entry per label).
``--verbose`` passes ``--verbose`` to ``enrich run`` (only for a checkout that has it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    RESULTS_DIR,
    ROOT,
    RssSampler,
    _cpu_at,
    bench_workdir,
    enrich_env,
    git_revision,
    load,
    print_table,
    rel,
    report_header,
    step_times,
    write_leads,
    write_results,
)

NAME = "cli_run"
SAMPLE = ROOT / "data" / "inbox" / "sample_leads.csv"


def run_cli(path: Path, workdir: Path, code: Path | None, extra: list[str]) -> dict:
    """One `enrich run PATH` in a fresh environment; figures from the process and the run's event log."""
    from dagster import DagsterEventType, DagsterInstance

    workdir.mkdir(parents=True, exist_ok=True)
    env = enrich_env(workdir, ROOT / "enrichment.yaml", None)
    label = path.stem
    env.pop("COLUMNS", None)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    out, err = workdir / f"{label}.stdout.txt", workdir / f"{label}.stderr.txt"
    load_before = load()
    with out.open("w") as o, err.open("w") as e:
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "enrichment_assets.cli", "run", str(path), *extra],
                                cwd=str(code or ROOT), env=env, stdout=o, stderr=e)
        sampler = RssSampler(proc.pid, interval=0.1)  # CPU seconds of the process over time, from /proc
        sampler.start()
        try:
            proc.wait(timeout=3600)
        finally:
            sampler.stop()
        wall = time.time() - started
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"enrich run exited {proc.returncode}:\n{stderr[-3000:]}")
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]  # the newest: this one
        starts = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START, limit=1).records
        first_step_at = starts[0].event_log_entry.timestamp if starts else None
        phases = start_phases(instance, run.run_id, started)
        engine = [r.user_message for r in instance.all_logs(run.run_id)
                  if r.step_key == "waterfall" and (r.user_message or "").startswith("Waterfall done in ")]
    steps = step_times(Path(env["DAGSTER_HOME"]), run.run_id)
    waterfall = steps.get("waterfall", {}).get("seconds")
    return {
        "wall_s": round(wall, 2),
        "time_to_first_step_s": round(first_step_at - started, 2) if first_step_at else None,
        "start_phases_s": phases,
        # CPU the process used before its first step (load-independent, unlike the wall time): Python, imports,
        # the instance, the definitions, the run's planned events.
        "cpu_to_first_step_s": round(_cpu_at(sampler.cpu, first_step_at - sampler.t0_epoch), 2)
        if first_step_at and _cpu_at(sampler.cpu, first_step_at - sampler.t0_epoch) is not None else None,
        "cpu_s": round(sampler.cpu[-1][1], 2) if sampler.cpu else None,
        "waterfall_step_s": waterfall,
        "waterfall_engine_s": float(engine[0].split()[3].rstrip("s:")) if engine else None,
        "whole_over_waterfall": round(wall / waterfall, 3) if waterfall else None,
        "lines_stdout": len(stdout.splitlines()), "lines_stderr": len(stderr.splitlines()),
        "lines": len(stdout.splitlines()) + len(stderr.splitlines()),
        "steps": {k: v["seconds"] for k, v in steps.items()},
        "load_before": load_before, "load_after": load(),
        "output_head": (stdout + stderr)[:4000],
    }


def start_phases(instance, run_id: str, started: float) -> dict[str, float]:
    """Seconds from starting the process to: the run's first event (Python, the definitions, the instance),
    its RUN_START (Dagster writes a planned event per asset and check first), its first STEP_START."""
    entries = instance.all_logs(run_id)
    first = entries[0].timestamp if entries else started
    run_start = next((e.timestamp for e in entries if e.dagster_event is not None
                      and e.dagster_event.event_type_value == "PIPELINE_START"), first)
    step = next((e.timestamp for e in entries if e.dagster_event is not None
                 and e.dagster_event.event_type_value == "STEP_START"), run_start)
    return {"first_event": round(first - started, 2), "run_start": round(run_start - started, 2),
            "first_step": round(step - started, 2), "events_before_run_start": sum(
                1 for e in entries if e.timestamp < run_start)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample-runs", type=int, default=2, help="runs of the sample list (default 2; 0: none)")
    parser.add_argument("--leads", type=int, default=1000, help="size of the big list (default 1000; 0: none)")
    parser.add_argument("--code", type=Path, help="run the package from this folder (another checkout)")
    parser.add_argument("--label", default="this checkout", help="name of this entry in the results")
    parser.add_argument("--verbose", action="store_true", help="pass --verbose to enrich run")
    parser.add_argument("--workdir", type=Path, help="keep the run folders here (default: a temp folder, deleted)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()
    extra = ["--verbose"] if args.verbose else []

    report = report_header(NAME, {"mode": "sandbox (embedded, in process)", "config": "enrichment.yaml",
                                  "stdout": "a file (not a terminal)", "code": str(args.code or "this checkout"),
                                  "extra_args": extra})
    previous = {}
    if args.output.exists():
        try:
            previous = json.loads(args.output.read_text()).get("entries", {})
        except ValueError:
            previous = {}
    entry: dict = {"label": args.label, "measured_at": report["measured_at"], "git": git_revision(),
                   "code": str(args.code or "this checkout"), "extra_args": extra, "sample": [], "big": None}
    with bench_workdir(args.workdir, "bench-cli-") as base:
        for i in range(args.sample_runs):
            print(f"sample list, run {i + 1} (load {load()}) ...", flush=True)
            entry["sample"].append(run_cli(SAMPLE, base / f"sample_{i}", args.code, extra))
        if args.leads:
            path = base / f"leads_{args.leads}.csv"
            write_leads(path, args.leads, seed=7, world_size=3000)  # the embedded sandbox's world
            print(f"{args.leads:,} leads (load {load()}) ...", flush=True)
            # A new list on an instance and a database that have run one before (the first sample run's), as a
            # user's second list: the Dagster instance, the DuckDB file and dbt's parse state exist.
            warm = base / "sample_0" if args.sample_runs else base / "big"
            entry["big"] = {"leads": args.leads, "environment": "after the sample list" if args.sample_runs
                            else "fresh", **run_cli(path, warm, args.code, extra)}
    previous[args.label] = entry
    report["entries"] = previous

    rows = []
    for label, e in previous.items():
        runs = [(f"sample {i + 1}", s) for i, s in enumerate(e["sample"])]
        runs += [(f"{e['big']['leads']:,} leads", e["big"])] if e["big"] else []
        for name, r in runs:
            rows.append([f"{label} / {name}", r["time_to_first_step_s"], r.get("cpu_to_first_step_s"), r["wall_s"],
                         r["waterfall_step_s"], r["steps"].get("dbt_marts"), r["lines"],
                         "/".join(f"{x:.2f}" for x in r["load_before"])])
    print_table("enrich run: start-up, output and the whole run against its waterfall step",
                ["run", "to first step s", "CPU to first step s", "whole s", "waterfall step s", "dbt step s",
                 "lines", "load 1/5/15"], rows)
    for label, e in previous.items():
        if e["big"]:
            b = e["big"]
            print(f"{label}: {b['leads']:,} leads: whole {b['wall_s']} s / waterfall step {b['waterfall_step_s']} s "
                  f"= {b['whole_over_waterfall']} (engine {b['waterfall_engine_s']} s); steps {b['steps']}")
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does the PostgreSQL state store keep the waterfall at the vendors' rate limits? (``ENRICHMENT_STATE_URL``)

One command:

    python benchmarks/state_backends.py [--leads 2000] [--rps 50] [--rounds 1]

The same lead list, sandbox settings and config as ``waterfall_throughput.py`` (lognormal latency p50 0.3 s /
p95 1 s, every vendor rate limited at ``--rps`` in the sandbox and the client), run through the real
``enrich run`` once with the state store in SQLite (the default: a file beside the DuckDB file) and once in
PostgreSQL: a throw-away server started for the benchmark (initdb + pg_ctl on loopback, ``fsync`` on, as a
production server; the SQLite store commits with ``synchronous=FULL``), a fresh database per run. With
``--rounds N`` the two alternate N times (load on this shared machine varies).

Reported per run: the waterfall step's wall time (the run log's "Waterfall done in Xs"), vendor requests per
second over it, the bound ``max over providers (accepted calls / rate limit)`` and the rate-limit efficiency
bound / waterfall (target >= 0.9 for both backends), the 429s the client caused, CPU per request. Results:
``benchmarks/results/state_backends.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import (
    PROVIDERS,
    RESULTS_DIR,
    SandboxProcess,
    enrich_env,
    git_revision,
    load,
    print_table,
    rel,
    report_header,
    run_enrich,
    sandbox_rate_patch,
    vendor_calls,
    write_config,
    write_leads,
    write_results,
)
from waterfall_throughput import P50, P95, concurrency_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from enrichment_assets_tests.support.postgres import running_postgres, server_bin_dir

NAME = "state_backends"


def run_one(backend: str, state_url: str | None, leads_path: Path, lead_info: dict, rps: float, workdir: Path
            ) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "enrichment.yaml"
    max_concurrency = concurrency_for(rps)
    write_config(config_path, rps=rps, max_concurrency=max_concurrency)
    with SandboxProcess(world_size=lead_info["world_size"], log=workdir / "sandbox.log") as sandbox:
        sandbox.patch(sandbox_rate_patch(rps, p50=P50, p95=P95))
        sandbox.reset()
        env = enrich_env(workdir, config_path, sandbox.url)
        env.pop("ENRICHMENT_STATE_URL", None)
        if state_url:
            env["ENRICHMENT_STATE_URL"] = state_url
        load_before = load()
        run = run_enrich(leads_path, env, workdir, label=f"enrich_{backend}")
        load_after = load()
        calls = vendor_calls(sandbox.stats())
    if run.waterfall_s is None:
        raise RuntimeError(f"{backend}: the run did not report its waterfall time; see {workdir}")
    requests = sum(c["requests"] for c in calls.values())
    rate_limited = sum(c["rate_limited"] for c in calls.values())
    per_provider_bound = {p: calls[p]["accepted"] / rps for p in PROVIDERS}
    bound = max(per_provider_bound.values())
    step_cpu = run.step_memory.get("waterfall", {}).get("cpu_s")
    return {
        "backend": backend, "leads": lead_info["rows"],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": load_before, "load_after": load_after, "git": git_revision(),
        "rate_limit_per_second": rps, "client_max_concurrency": max_concurrency,
        "wall_s": round(run.wall_s, 2), "waterfall_s": run.waterfall_s,
        "requests": requests,
        "requests_per_s": round(requests / run.waterfall_s, 1),
        "bound_s": round(bound, 2), "bound_provider": max(per_provider_bound, key=per_provider_bound.get),
        "efficiency": round(bound / run.waterfall_s, 3),
        "rate_limited_429": rate_limited,
        "waterfall_cpu_ms_per_request": round(1000 * step_cpu / requests, 3) if step_cpu and requests else None,
        "calls": calls,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=2000, help="list size (default 2000)")
    parser.add_argument("--rps", type=float, default=50.0, help="rate limit of every vendor (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two backends this often (default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()
    bin_dir = server_bin_dir()
    if bin_dir is None:
        print("PostgreSQL's server (initdb, pg_ctl) is not installed", file=sys.stderr)
        return 2
    report = report_header(NAME, {
        "latency": {"p50": P50, "p95": P95, "distribution": "lognormal"}, "rps": args.rps, "leads": args.leads,
        "postgres": "throw-away server on 127.0.0.1, fsync on, a fresh database per run; psycopg 3 pool",
        "sqlite": "the default store file beside the DuckDB file (WAL, synchronous=FULL)",
        "efficiency": "max over providers (accepted requests / rate limit) / waterfall step wall time",
    })
    base = Path(tempfile.mkdtemp(prefix="bench-state-"))
    runs = []
    try:
        leads_path = base / "bench_list.csv"
        lead_info = write_leads(leads_path, args.leads)
        lead_info["rows"] = args.leads
        with running_postgres(bin_dir, durable=True) as server:
            for round_no in range(args.rounds):
                for backend in ("sqlite", "postgres"):
                    url = server.url(server.create_database(f"bench_{uuid.uuid4().hex[:8]}")) \
                        if backend == "postgres" else None
                    print(f"round {round_no + 1}: {args.leads:,} leads, {backend} (load {load()})", flush=True)
                    r = run_one(backend, url, leads_path, lead_info, args.rps, base / f"{backend}_{round_no}")
                    r["round"] = round_no + 1
                    runs.append(r)
                    print(f"  waterfall {r['waterfall_s']}s, {r['requests_per_s']} requests/s, bound {r['bound_s']}s,"
                          f" efficiency {r['efficiency']}, 429s {r['rate_limited_429']}", flush=True)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(base, ignore_errors=True)
    report["runs"] = runs
    print_table("Waterfall step by state-store backend (sandbox, realistic latency)",
                ["round", "backend", "waterfall s", "requests", "requests/s", "bound s", "efficiency", "429s",
                 "CPU ms/req", "load 1/5/15"],
                [[r["round"], r["backend"], r["waterfall_s"], r["requests"], r["requests_per_s"], r["bound_s"],
                  r["efficiency"], r["rate_limited_429"], r["waterfall_cpu_ms_per_request"],
                  "/".join(f"{x:.2f}" for x in r["load_before"])] for r in runs],
                note="efficiency = bound / waterfall step; target >= 0.9 at 50 rps per vendor for both backends")
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

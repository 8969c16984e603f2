"""Does the pipelined waterfall run at the vendors' rate limits? (``waterfall/engine.py``: wall time near
``max over providers (calls / rate limit)``, not the sum).

One command:

    python benchmarks/waterfall_throughput.py [--leads 10000 100000] [--rps 50] [--large-rps RPS]

For each list size it draws a lead list of distinct people from the sandbox world
(``enrichment_assets.sandbox.sample_data``), serves the vendor sandbox with uvicorn in a
separate process on a free port with realistic latency (lognormal, p50 0.3 s, p95 1 s) and
the same token-bucket rate limit for every vendor (``--rps``; Pronto's "5 processed at once"
queue lifted), writes a temporary ``enrichment.yaml`` whose providers all have
``rate_limit_per_second`` = that limit and ``max_concurrency`` sized for it, points
``<V>_BASE_URL`` at the sandbox and runs the real ``enrich run`` with its own DAGSTER_HOME
and DuckDB in a temp folder.

Reported: wall time of the whole CLI and of the waterfall step alone (the run log's
"Waterfall done in Xs"), calls per provider from the sandbox's ``/_sandbox/stats``, the
bound ``max over providers (accepted calls / rate limit)``, the ratio bound / wall (target
>= 0.9) and the 429s the client caused itself (target < 1 %). Every list size runs at ``--rps``
(default 50) unless ``--large-rps`` is given for lists of ``--large-from`` leads or more (a 100k
list at 50 rps takes over half an hour). Each entry records the commit, the rate, the client's and the
sandbox's burst and the load averages before and after. Results:
``benchmarks/results/waterfall_throughput.json`` (one entry per list size, the latest run of each size kept).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

from _common import (
    PROVIDERS,
    RESULTS_DIR,
    bench_workdir,
    git_revision,
    ledger_calls,
    load,
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

NAME = "waterfall_throughput"
P50, P95 = 0.3, 1.0


def concurrency_for(rps: float) -> int:
    """In-flight requests a vendor needs at ``rps`` with lognormal latency p50 0.3 s / p95 1 s, with headroom.

    Little's law with the mean latency (~0.39 s) gives ~0.4 * rps; the tail (p99 ~1.7 s) and bursts need more.
    """
    return max(16, math.ceil(rps * 1.25 / 16.0) * 16)


def run_one(n_leads: int, rps: float, workdir: Path, keep: bool) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    leads_path = workdir / f"bench_{n_leads}.csv"
    lead_info = write_leads(leads_path, n_leads)
    config_path = workdir / "enrichment.yaml"
    max_concurrency = concurrency_for(rps)
    write_config(config_path, rps=rps, max_concurrency=max_concurrency)
    from enrichment_assets.config import load_config

    client_burst = load_config(config_path).provider("leadmagic").effective_burst
    sandbox_burst = max(1, round(rps))  # sandbox_rate_patch's default
    with sandboxed_run(workdir, config_path, world_size=lead_info["world_size"], realistic=True) as (sandbox, env):
        sandbox.patch(sandbox_rate_patch(rps, burst=sandbox_burst, p50=P50, p95=P95))
        sandbox.reset()
        load_before = load()
        sandbox_cpu0 = sandbox.cpu_seconds()
        run = run_enrich(leads_path, env, workdir, label=f"enrich_{n_leads}")
        load_after = load()
        sandbox_cpu = (sandbox.cpu_seconds() or 0) - (sandbox_cpu0 or 0)
        calls = vendor_calls(sandbox.stats())
    ledger = ledger_calls(workdir / "enrichment.duckdb", run.run_id) if run.run_id else {}
    requests = sum(c["requests"] for c in calls.values())
    rate_limited = sum(c["rate_limited"] for c in calls.values())
    per_provider_bound = {p: calls[p]["accepted"] / rps for p in PROVIDERS}
    bound = max(per_provider_bound.values())
    cpu = (run.cpu_user_s or 0) + (run.cpu_sys_s or 0)
    result = {
        "leads": n_leads,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": load_before,
        "load_after": load_after,
        "lead_file": lead_info,
        "git": git_revision(),
        "rate_limit_per_second": rps,
        "client_burst": client_burst,
        "sandbox_burst": sandbox_burst,
        "client_max_concurrency": max_concurrency,
        "wall_s": round(run.wall_s, 2),
        "waterfall_s": run.waterfall_s,
        "bound_s": round(bound, 2),
        "bound_provider": max(per_provider_bound, key=per_provider_bound.get),
        "ratio_bound_over_waterfall": round(bound / run.waterfall_s, 3) if run.waterfall_s else None,
        "ratio_bound_over_wall": round(bound / run.wall_s, 3),
        "requests": requests,
        "rate_limited_429": rate_limited,
        "rate_limited_share": round(rate_limited / requests, 5) if requests else 0.0,
        "calls": calls,
        "ledger_requests": ledger,
        "enrich_cpu_s": round(cpu, 1),
        "enrich_cpu_ms_per_request": round(1000 * cpu / requests, 3) if requests else None,
        "waterfall_step_cpu_s": run.step_memory.get("waterfall", {}).get("cpu_s"),
        "waterfall_cpu_ms_per_request": (
            round(1000 * run.step_memory["waterfall"]["cpu_s"] / requests, 3)
            if requests and run.step_memory.get("waterfall", {}).get("cpu_s")
            else None
        ),
        "sandbox_cpu_s": round(sandbox_cpu, 1),
        "peak_rss_mb": round(max(run.peak_rss_mb_sampled, run.max_rss_mb_time_v or 0), 1),
        "steps": run.steps,
        "enrich_run": {k: v for k, v in run.summary().items() if k not in ("steps",)},
    }
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--leads", type=int, nargs="+", default=[10_000, 100_000], help="list sizes (default 10000 100000)"
    )
    parser.add_argument(
        "--rps", type=float, default=50.0, help="rate limit of every vendor, sandbox and client (default 50)"
    )
    parser.add_argument("--large-rps", type=float, default=None,
                        help="rate limit for lists of --large-from leads or more (default: --rps)")
    parser.add_argument("--large-from", type=int, default=100_000, help="(default 100000)")
    parser.add_argument("--workdir", type=Path, help="keep the run folders here (default: a temp folder, deleted)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {
        "sandbox": "python -m enrichment_assets.sandbox --realistic (uvicorn, own process, 127.0.0.1)",
        "latency": {"p50": P50, "p95": P95, "distribution": "lognormal"},
        "rate_limit": "sandbox: token bucket per vendor, burst = rps, no window; client: rate_limit_per_second = "
                      "the same rps, burst left at the product default (ProviderConfig.effective_burst)",
        "pronto_sandbox_queue": "lifted (max_concurrency None): a throughput cap of its own, not a rate limit",
        "bound": "max over providers (accepted requests / rate limit)",
        "waterfall_s": "the run log's 'Waterfall done in Xs' (the engine's own wall time)",
        "rps": args.rps, "large_rps": args.large_rps, "large_from": args.large_from,
    })
    previous = {}
    if args.output.exists():
        try:
            previous = {r["leads"]: r for r in json.loads(args.output.read_text()).get("runs", [])}
        except (ValueError, KeyError):
            previous = {}
    fresh = {}
    with bench_workdir(args.workdir, "bench-waterfall-") as base:
        for n in args.leads:
            rps = args.large_rps if args.large_rps is not None and n >= args.large_from else args.rps
            print(f"{n:,} leads at {rps:g} rps per vendor ... (load {load()})", flush=True)
            fresh[n] = run_one(n, rps, base / f"leads_{n}", keep=args.workdir is not None)
            r = fresh[n]
            print(f"  CLI {r['wall_s']:.1f}s, waterfall {r['waterfall_s']}s, bound {r['bound_s']}s "
                  f"({r['bound_provider']}), ratio {r['ratio_bound_over_waterfall']}, 429s {r['rate_limited_429']}",
                  flush=True)
    runs = sorted({**previous, **fresh}.values(), key=lambda r: r["leads"])
    report["runs"] = runs

    rows = []
    for r in runs:
        rows.append([f"{r['leads']:,}" + ("" if r["leads"] in fresh else " (earlier)"),
                     (r.get("git") or {}).get("commit", "?")[:7], r["rate_limit_per_second"],
                     f"{r.get('client_burst', '?')}/{r.get('sandbox_burst', '?')}",
                     r["wall_s"], r["waterfall_s"], r["bound_s"], r["ratio_bound_over_waterfall"],
                     r["ratio_bound_over_wall"], f"{100 * r['rate_limited_share']:.2f}%",
                     r.get("waterfall_cpu_ms_per_request"), r["enrich_cpu_ms_per_request"],
                     "/".join(f"{x:.2f}" for x in r["load_before"])])
    print_table("Pipelined waterfall against the sandbox (uvicorn, realistic latency)",
                ["leads", "commit", "rps/vendor", "burst client/sandbox", "CLI wall s", "waterfall s", "bound s",
                 "bound/waterfall", "bound/CLI",
                 "429s", "CPU ms/req (waterfall)", "CPU ms/req (whole CLI)", "load 1/5/15"], rows,
                note="bound = max over providers (accepted calls / rate limit); targets: bound/waterfall >= 0.9, "
                     "429s < 1%. CPU ms/req: CPU seconds of the enrich process during the waterfall step (engine, "
                     "clients, store) or the whole run (with ingestion, merge, Dagster, dbt), per vendor request")
    rows = []
    for r in runs:
        for p in PROVIDERS:
            c = r["calls"][p]
            rows.append([f"{r['leads']:,} / {p}", c["requests"], c["accepted"], c["rate_limited"],
                         round(c["accepted"] / r["rate_limit_per_second"], 1), c["max_in_flight"],
                         r["ledger_requests"].get(p, 0)])
    print_table("Calls per provider (sandbox stats)",
                ["leads / provider", "requests", "accepted", "429", "calls / limit s", "max in flight",
                 "ledger rows"], rows)
    out = write_results(NAME, report, args.output)
    print(f"wrote {rel(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

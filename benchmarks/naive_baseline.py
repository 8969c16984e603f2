"""What would the same leads take through a one-request-at-a-time loop? (the baseline of the pipeline).

One command:

    python benchmarks/naive_baseline.py [--sample 200] [--leads 10000] [--rps 50]

Draws the same lead list as ``waterfall_throughput.py`` (same seed, same size, so the same rows),
normalizes it with the project's ingestion, and sends the first ``--sample`` leads through the five
vendors the way their docs' quickstarts do: ``requests.post`` / ``requests.get`` one call at a time,
each lead through the providers in waterfall order until a mobile is found (the same stop rule as
the engine; Crustdata one identifier per call, no batching). The request bodies and headers are the
project's own (the vendor clients' ``build_request``), so both sides ask the same questions. The
sandbox runs in its own uvicorn process with realistic latency (p50 0.3 s, p95 1 s) and the same
rate limits as ``waterfall_throughput.py`` (a sequential loop never reaches them).

The loop's mean time per lead, times ``--leads``, is the naive estimate for the whole list; the
speed-up is that over the pipeline's 10k figures in ``benchmarks/results/waterfall_throughput.json``
(target >= 20x). Results: ``benchmarks/results/naive_baseline.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    PROVIDERS,
    RESULTS_DIR,
    SandboxProcess,
    load,
    print_table,
    rel,
    report_header,
    sandbox_rate_patch,
    staged_leads,
    vendor_calls,
    write_leads,
    write_results,
)

NAME = "naive_baseline"
P50, P95 = 0.3, 1.0


def phones_from(provider: str, status: int, body: Any) -> list[tuple[str, str | None]]:
    """The numbers in a vendor's answer, as its docs describe the response."""
    if status != 200 or body is None:
        return []
    if provider == "leadmagic":
        return [(body["mobile_number"], "mobile")] if body.get("mobile_number") else []
    if provider == "pronto":
        out = []
        for p in body.get("phones") or []:
            out.append((p, None) if isinstance(p, str) else (p.get("number"), p.get("type")))
        return out
    if provider == "enrichlayer":
        return [(n, None) for n in body.get("numbers") or []]
    if provider == "lantern":
        return [(body["phone"], None)] if body.get("phone") else []
    if provider == "crustdata":
        out = []
        for element in body if isinstance(body, list) else []:
            for match in element.get("matches") or []:
                contact = (match.get("person_data") or {}).get("contact") or {}
                out.extend((n, None) for n in contact.get("phone_numbers") or [])
        return out
    raise ValueError(provider)


def naive_loop(leads: list, base_url: str) -> dict[str, Any]:
    import requests
    from _common import ROOT

    from enrichment_assets.config import load_config
    from enrichment_assets.phones.parse import region_hints
    from enrichment_assets.vendors import CLIENTS
    from enrichment_assets.vendors.base import PhoneClaim
    from enrichment_assets.waterfall.stop_rule import meets_stop_rule

    config = load_config(ROOT / "enrichment.yaml")
    clients = {p: CLIENTS[p](config.provider(p), "sandbox-key", base_url) for p in config.waterfall.order}
    per_lead: list[float] = []
    calls = dict.fromkeys(PROVIDERS, 0)
    mobiles = 0
    for lead in leads:
        started = time.perf_counter()
        hints = region_hints(lead.country, lead.domain)
        for provider, client in clients.items():
            if client.ineligible_reason(lead) is not None:
                continue
            headers = client._base_headers()
            if provider == "crustdata":
                kind, value = client.identifier(lead)
                method, params, body = "POST", None, {kind: [value], "fields": client.fields}
            else:
                identity = client.request_identity(lead)
                request = client.build_request(lead, identity, "")
                method, params, body = request.method, request.params, request.json
            url = base_url + client.endpoint
            if method == "GET":
                response = requests.get(url, params=params, headers=headers, timeout=60)
            else:
                response = requests.post(url, json=body, headers=headers, timeout=60)
            calls[provider] += 1
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            claims = [PhoneClaim(n, t) for n, t in phones_from(provider, response.status_code, parsed) if n]
            if meets_stop_rule("mobile", claims, hints):
                mobiles += 1
                break
        per_lead.append(time.perf_counter() - started)
    return {"per_lead_s": per_lead, "calls": calls, "mobiles": mobiles}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=200, help="leads sent through the naive loop (default 200)")
    parser.add_argument("--leads", type=int, default=10_000, help="list size to extrapolate to (default 10000)")
    parser.add_argument("--rps", type=float, default=50.0, help="sandbox rate limit per vendor (default 50)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / f"{NAME}.json")
    args = parser.parse_args()

    report = report_header(NAME, {
        "sample": args.sample, "extrapolated_to": args.leads, "rps": args.rps,
        "latency": {"p50": P50, "p95": P95, "distribution": "lognormal"},
        "client": "requests.post/get, one call at a time, no session (the vendors' quickstart style)",
        "sandbox": "python -m enrichment_assets.sandbox --realistic (uvicorn, own process, 127.0.0.1)",
    })
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp:
        work = Path(tmp)
        lead_info = write_leads(work / f"bench_{args.leads}.csv", args.leads)
        leads = []
        for lead in staged_leads(Path(lead_info["path"]), f"bench_{args.leads}", work):
            leads.append(lead)
            if len(leads) >= args.sample:
                break
        with SandboxProcess(world_size=lead_info["world_size"], log=work / "sandbox.log") as sandbox:
            sandbox.patch(sandbox_rate_patch(args.rps, p50=P50, p95=P95))
            sandbox.reset()
            load_before = load()
            started = time.perf_counter()
            out = naive_loop(leads, sandbox.url)
            wall = time.perf_counter() - started
            calls = vendor_calls(sandbox.stats())
    per_lead = out["per_lead_s"]
    mean = statistics.fmean(per_lead)
    estimate = mean * args.leads
    report["lead_file"] = lead_info
    report["sample"] = {
        "leads": len(leads), "wall_s": round(wall, 2), "mean_s_per_lead": round(mean, 4),
        "median_s_per_lead": round(statistics.median(per_lead), 4), "calls": out["calls"],
        "calls_per_lead": round(sum(out["calls"].values()) / len(leads), 3), "mobiles": out["mobiles"],
        "sandbox_calls": calls, "load_before": load_before,
    }
    report["extrapolated"] = {"leads": args.leads, "wall_s": round(estimate, 1), "hours": round(estimate / 3600, 2)}

    pipeline = None
    wt = RESULTS_DIR / "waterfall_throughput.json"
    if wt.exists():
        for r in json.loads(wt.read_text()).get("runs", []):
            if r["leads"] == args.leads:
                pipeline = r
    rows = [["naive loop, sample", len(leads), round(wall, 1), round(mean, 3), None, None]]
    rows.append(
        [f"naive loop, extrapolated to {args.leads:,}", args.leads, round(estimate, 0), round(mean, 3), None, None]
    )
    if pipeline:
        speedup_cli = estimate / pipeline["wall_s"]
        speedup_wf = estimate / pipeline["waterfall_s"]
        report["pipeline"] = {"source": rel(wt), "measured_at": pipeline["measured_at"], "leads": pipeline["leads"],
                              "rate_limit_per_second": pipeline["rate_limit_per_second"],
                              "wall_s": pipeline["wall_s"], "waterfall_s": pipeline["waterfall_s"]}
        report["speedup"] = {"whole_cli": round(speedup_cli, 1), "waterfall_step": round(speedup_wf, 1), "target": 20}
        rows.append([f"pipeline, enrich run (whole CLI), {pipeline['rate_limit_per_second']:g} rps", pipeline["leads"],
                     pipeline["wall_s"], pipeline["wall_s"] / pipeline["leads"], round(speedup_cli, 1), None])
        rows.append(["pipeline, waterfall step", pipeline["leads"], pipeline["waterfall_s"],
                     pipeline["waterfall_s"] / pipeline["leads"], round(speedup_wf, 1), None])
    rows[0][5] = "/".join(f"{x:.2f}" for x in load_before)
    print_table(
        "Naive one-call-at-a-time loop vs the pipelined waterfall",
        ["what", "leads", "wall s", "s / lead", "speed-up", "load 1/5/15"],
        rows,
        note=f"naive: {report['sample']['calls_per_lead']} calls per lead, {out['calls']}; target speed-up >= 20x"
        + ("" if pipeline else "; run waterfall_throughput.py for the pipeline's figures"),
    )
    path = write_results(NAME, report, args.output)
    print(f"wrote {rel(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

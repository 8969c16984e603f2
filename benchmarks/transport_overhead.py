"""How much does the HTTP transport cost the client? (``vendors/http.py``: the vendors' rate limits, not this
process, must set the pace).

One command:

    python benchmarks/transport_overhead.py [--requests 3000] [--in-flight 64] [--rounds 2]

starts a tiny uvicorn + Starlette JSON echo server in a subprocess on 127.0.0.1 and,
for each transport the vendor clients can use (``enrichment_assets.vendors.http``:
stock httpx, and httpx over ``httpx_aiohttp.AiohttpTransport``), plus plain aiohttp
as a reference and the whole vendor-client path (``LeadMagicClient`` from
``enrichment_assets.vendors``: limiter, semaphore, retries, journal, parsing) on each of the two
transports, sends small JSON POSTs with a fixed number of requests in flight. It
measures requests per second and the client's own CPU seconds per call
(``time.process_time()`` in this process; the server runs in its own process), prints
a table and writes ``benchmarks/results/transport_overhead.json``.

Only loopback traffic, bounded in count; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from _common import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "transport_overhead.json"
PAYLOAD = {"record_id": "r-000123", "profile_url": "https://www.linkedin.com/in/jane-doe", "work_email": "jane@acme.io"}


# --------------------------------------------------------------------------- server (subprocess)


def serve(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"ok": True, "echo": body, "mobile_number": None, "credits_consumed": 0})

    app = Starlette(
        routes=[Route("/echo", echo, methods=["POST"]), Route("/v1/people/mobile-finder", echo, methods=["POST"])]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=1024)


# --------------------------------------------------------------------------- clients


async def run_httpx(kind: str, url: str, n: int, in_flight: int) -> dict:
    from enrichment_assets.vendors.http import build_async_client

    client = build_async_client(base_url=url, timeout_seconds=30, max_concurrency=in_flight, transport=kind)
    async with client:

        async def one() -> bool:
            response = await client.post("/echo", json=PAYLOAD)
            response.json()
            return response.status_code == 200

        return await drive(one, n, in_flight)


async def run_aiohttp(url: str, n: int, in_flight: int) -> dict:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:

        async def one() -> bool:
            async with session.post("/echo", json=PAYLOAD) as response:
                await response.json()
                return response.status == 200

        return await drive(one, n, in_flight)


async def run_vendor_client(url: str, n: int, in_flight: int, transport: str | None = None) -> dict:
    """The whole vendor-client path (limiter, semaphore, tenacity, journal, parsing) on a transport (None: default)."""
    from enrichment_assets.config import ProviderConfig
    from enrichment_assets.leads.model import Lead
    from enrichment_assets.vendors.base import CallStatus
    from enrichment_assets.vendors.leadmagic import LeadMagicClient

    config = ProviderConfig(rate_limit_per_second=1e9, burst=10**9, max_concurrency=in_flight, max_retries=0)
    lead = Lead(
        list_id="bench", record_id="1", linkedin_url="https://www.linkedin.com/in/jane-doe", email="jane@acme.io"
    )
    async with LeadMagicClient(config, "bench-key", url, transport=transport) as client:

        async def one() -> bool:
            return (await client.lookup(lead)).status is CallStatus.NOT_FOUND

        return await drive(one, n, in_flight)


async def drive(one, n: int, in_flight: int) -> dict:
    # Warm the pool (connections open, code paths hot) outside the measurement.
    await asyncio.gather(*(one() for _ in range(in_flight)))
    remaining = n
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            try:
                if not await one():
                    failures += 1
            except Exception:  # noqa: BLE001 - counted, reported
                failures += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "requests": n,
        "failures": failures,
        "wall_s": wall,
        "cpu_s": cpu,
        "req_per_s": n / wall,
        "cpu_s_per_call": cpu / n,
    }


CANDIDATES = {
    "httpx (stock transport)": lambda url, n, k: run_httpx("httpx", url, n, k),
    "httpx + httpx-aiohttp transport": lambda url, n, k: run_httpx("aiohttp", url, n, k),
    "plain aiohttp (reference)": run_aiohttp,
    "LeadMagicClient, default transport": run_vendor_client,
    "LeadMagicClient, stock httpx transport": lambda url, n, k: run_vendor_client(url, n, k, "httpx"),
}
KIND = {"httpx (stock transport)": "httpx", "httpx + httpx-aiohttp transport": "aiohttp"}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per round (default 3000)")
    parser.add_argument("--in-flight", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per transport, best kept (default 2)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=str(ROOT))
    try:
        wait_for_port(port, server, timeout=20.0)
        url = f"http://127.0.0.1:{port}"
        rows: dict[str, dict] = {}
        # Interleave rounds so a slow moment of the machine does not land on one transport only.
        for _ in range(max(1, args.rounds)):
            for label, run in CANDIDATES.items():
                result = asyncio.run(run(url, args.requests, args.in_flight))
                rows.setdefault(label, {"rounds": []})["rounds"].append(result)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    for label, row in rows.items():
        best = max(row["rounds"], key=lambda r: r["req_per_s"])
        row.update(
            transport=KIND.get(label),
            req_per_s=round(best["req_per_s"], 1),
            cpu_ms_per_call=round(1000 * statistics.median(r["cpu_s_per_call"] for r in row["rounds"]), 3),
            failures=sum(r["failures"] for r in row["rounds"]),
        )
    choices = {label: row for label, row in rows.items() if row["transport"]}
    chosen = max(choices.values(), key=lambda r: (r["failures"] == 0, r["req_per_s"]))["transport"]

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.requests} JSON POSTs per round, {args.in_flight} in flight, best of {args.rounds} "
                        f"rounds, {os.cpu_count()} CPUs, Python {platform.python_version()}, load "
                        f"{'/'.join(f'{x:.2f}' for x in load_at_start)}", title_justify="left")
    for column in ("client", "req/s", "client CPU ms/call", "failures"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for label, row in rows.items():
        table.add_row(label, f"{row['req_per_s']:.1f}", f"{row['cpu_ms_per_call']:.3f}", str(row["failures"]))
    console = Console(width=max(100, Console().width))
    console.print(table)
    console.print(f"fastest transport for the vendor clients: {chosen!r}; target for the vendor-client path: "
                  "<= 1 ms client CPU per call", highlight=False)

    from enrichment_assets.vendors.http import DEFAULT_TRANSPORT

    if chosen != DEFAULT_TRANSPORT:
        print(f"NOTE: enrichment_assets.vendors.http.DEFAULT_TRANSPORT is {DEFAULT_TRANSPORT!r}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "transport_overhead",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "cpu_model": cpu_model()},
        "load_at_start": load_at_start,
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "versions": {p: version(p) for p in ("httpx", "httpcore", "httpx-aiohttp", "aiohttp", "aiolimiter", "tenacity",
                                                "uvicorn", "starlette")},
        "settings": {"requests_per_round": args.requests, "in_flight": args.in_flight, "rounds": args.rounds,
                     "server": "uvicorn + starlette JSON echo in a subprocess on 127.0.0.1"},
        "results": rows,
        "fastest_transport": chosen,
        "default_transport": DEFAULT_TRANSPORT,
    }
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.output)
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

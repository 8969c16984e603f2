"""What does a durable journal cost per vendor request? (``storage/response_store.py``: ``synchronous=FULL``)

One command:

    python benchmarks/journal_durability.py [--requests 2000] [--rounds 3]

writes, for each of ``--requests`` simulated vendor requests, what the waterfall writes for a paid answer: the
attempt before it is sent (``record_sent``), its end with the 2xx body kept as received (``record_finished``),
and the read answer with its ledger amounts (``record_outcome``): three transactions. It does so once with the
store as shipped (``synchronous=FULL``: each COMMIT waits for the disk) and once with ``synchronous=NORMAL`` (what
the store used before: durable against a killed process, not a power cut), through the same writer thread the
engine uses (``storage/store_io.py``), and reports milliseconds per request. Writes
``benchmarks/results/journal_durability.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import print_table, report_header, write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BODY = (b'{"profile_url": "https://www.linkedin.com/in/jane-doe-4711", "email": "jane.doe@acme.io", '
        b'"mobile_number": "+1-555-123-4567", "credits_consumed": 5, "message": "Mobile number found."}')


async def one_round(path: Path, requests: int, synchronous: str, in_flight: int) -> float:
    from enrichment_assets.storage.response_store import AttemptRow, ResponseStore, StoredResponse
    from enrichment_assets.storage.store_io import StoreIO
    from enrichment_assets.vendors.base import ReceivedAnswer

    store = ResponseStore(path)
    store._conn.execute(f"PRAGMA synchronous={synchronous}")
    io = StoreIO(store)
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await request(i)

    async def request(i: int) -> None:
        now = datetime.now(UTC)
        row = AttemptRow(attempt_id=f"a{i}", run_id="bench", list_id="bench", provider="leadmagic",
                         endpoint="/v1/people/mobile-finder", request_fingerprints=[f"fp{i}"], record_ids=[f"r{i}"],
                         sent_at=now, finished_at=None, http_status=None, outcome=None, credits=None,
                         credit_basis=None, usd=None, worst_case_credits=5.0, error=None, owner_id="bench")
        await io.write(store.record_sent, row)
        row.finished_at, row.http_status = now, 200
        await io.write(store.record_finished, row, ReceivedAnswer({"json": {"profile_url": "x"}}, 200, {}, BODY))
        row.outcome, row.credits, row.credit_basis, row.usd = "found", 5.0, "vendor_reported", 0.0
        response = StoredResponse(f"fp{i}", "leadmagic", "found", [("+15551234567", "mobile")], {"x": 1}, 200, 5.0,
                                  None, now, attempt_id=f"a{i}", parser_version=1)
        await io.write(store.record_outcome, [row], [response], answers_read=[(f"a{i}", 1, None)])

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    elapsed = time.perf_counter() - started
    io.close()
    store.close()
    return elapsed / requests * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 32],
                        help="requests writing at once (the waterfall has up to max_concurrency per vendor)")
    args = parser.parse_args()
    report = report_header("journal_durability", {"requests": args.requests, "rounds": args.rounds,
                                                  "in_flight": args.in_flight})
    figures: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="journal-") as tmp:
        for n in range(args.rounds):
            for in_flight in args.in_flight:
                for synchronous in ("NORMAL", "FULL"):
                    path = Path(tmp) / f"{synchronous}-{in_flight}-{n}.sqlite"
                    figures.setdefault((synchronous, in_flight), []).append(
                        asyncio.run(one_round(path, args.requests, synchronous, in_flight)))
    report["ms_per_request"] = {f"{k}/{f}": [round(v, 4) for v in vs] for (k, f), vs in figures.items()}
    medians = {key: statistics.median(vs) for key, vs in figures.items()}
    report["median_ms_per_request"] = {f"{k}/{f}": round(v, 4) for (k, f), v in medians.items()}
    report["full_costs_ms_per_request"] = {
        str(f): round(medians[("FULL", f)] - medians[("NORMAL", f)], 4) for f in args.in_flight}
    print_table("Journal writes per paid request (3 transactions each; wall time / requests)",
                ["synchronous", "in flight", "ms per request (median)", "rounds"],
                [[k, str(f), f"{medians[(k, f)]:.3f}", ", ".join(f"{v:.3f}" for v in vs)]
                 for (k, f), vs in sorted(figures.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
                note="FULL costs " + ", ".join(f"{c:.3f} ms at {f} in flight"
                                               for f, c in report["full_costs_ms_per_request"].items()))
    print(write_results("journal_durability", report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

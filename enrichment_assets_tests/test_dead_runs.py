"""Dead runs: a killed process's in-flight requests become ``unknown`` in the ledger as soon as its lease has
expired, whatever Dagster says of the run (a run killed outside ``enrich run`` stays STARTED until something
notices).

A real process runs the waterfall engine against a real server that never answers, and is killed with SIGKILL
while its request is in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb

from enrichment_assets.storage.ledger import sync_ledger
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.storage.warehouse import ensure_schema
from enrichment_assets_tests.conftest import REPO_ROOT
from enrichment_assets_tests.vendors.helpers import FOUND_BODY
from enrichment_assets_tests.wire_vendor import Respond, WireVendor

ENGINE = textwrap.dedent("""
    import asyncio, sys
    from enrichment_assets.config import parse_config
    from enrichment_assets.leads.model import Lead
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.vendors.registry import provider_spec
    from enrichment_assets.waterfall.engine import WaterfallEngine

    store_path, base_url = sys.argv[1], sys.argv[2]
    cfg = parse_config({"waterfall": {"order": ["leadmagic"]},
                        "providers": {"leadmagic": {"timeout_seconds": 600, "rate_limit_per_second": 100}}})

    class Rows(list):
        def add(self, row):
            self.append(row)

    def factory(name, journal):
        return provider_spec(name).client(cfg.provider(name), "test-key-0000", base_url, journal)

    store = ResponseStore(store_path)
    engine = WaterfallEngine(cfg, factory, store, run_id="run-killed", list_id="l1")
    asyncio.run(engine.run([Lead("l1", "r1", linkedin_url="https://www.linkedin.com/in/in-flight")], Rows()))
""")


def ledger_rows(store: ResponseStore, active: set[str]) -> list[tuple]:
    with duckdb.connect() as conn:
        ensure_schema(conn)
        sync_ledger(conn, store, active)
        return conn.execute("SELECT outcome, credits, worst_case_credits, uncertain_credits FROM credit_ledger "
                            "WHERE run_id = 'run-killed'").fetchall()


def test_a_killed_runs_in_flight_request_is_unknown_once_its_lease_expires(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    never = Respond(200, FOUND_BODY["leadmagic"], delay=600)
    with WireVendor(never) as vendor:
        env = {**os.environ, "ENRICHMENT_LEASE_SECONDS": "2", "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", ENGINE, str(path), vendor.base_url], env=env,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while vendor.count == 0:
                assert proc.poll() is None and time.monotonic() < deadline, "the engine sent nothing"
                time.sleep(0.05)
            with ResponseStore(path) as store:
                # In flight while its process lives: not in the ledger yet.
                assert ledger_rows(store, {"run-killed"}) == []
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                # Dagster would still call the run STARTED (nothing ended it): the lease alone decides.
                deadline = time.monotonic() + 30
                rows = ledger_rows(store, {"run-killed"})
                while not rows and time.monotonic() < deadline:
                    time.sleep(0.2)
                    rows = ledger_rows(store, {"run-killed"})
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert rows == [("unknown", 0.0, 5.0, 5.0)]

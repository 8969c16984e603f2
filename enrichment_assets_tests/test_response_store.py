"""SQLite hazards of the response store and request journal, on a real SQLite file.

A failed COMMIT must not leave the connection inside a transaction; a request journaled as sent must survive a
power cut (``synchronous=FULL``); an erased answer must not survive in free pages (``secure_delete``); the
waterfall's event loop must keep running while another process holds the write lock; ``forget`` must not hold
the write lock while it scans the journal.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import AttemptRow, ResponseStore, StoredResponse
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.vendors.helpers import FOUND_BODY
from enrichment_assets_tests.wire_vendor import Respond, WireRequest, WireVendor

SQLITE_TRANSACTION = 22  # the authorizer's action code for BEGIN / COMMIT / ROLLBACK


def sent(attempt_id: str, run_id: str = "run1", fps: list[str] | None = None,
         record_ids: list[str] | None = None) -> AttemptRow:
    return AttemptRow(attempt_id=attempt_id, run_id=run_id, list_id="l1", provider="leadmagic", endpoint="/x",
                      request_fingerprints=fps or [f"fp-{attempt_id}"], record_ids=record_ids or [attempt_id],
                      sent_at=datetime.now(UTC), finished_at=None, http_status=None, outcome=None, credits=None,
                      credit_basis=None, usd=None, worst_case_credits=5.0, error=None)


def test_a_failed_commit_is_rolled_back_and_the_store_stays_usable(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "store.sqlite")
    denied: list[str] = []

    def deny_first_commit(action: int, arg1: str | None, *_: object) -> int:
        if action == SQLITE_TRANSACTION and (arg1 or "").upper() == "COMMIT" and not denied:
            denied.append(arg1 or "")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    store._conn.set_authorizer(deny_first_commit)
    with pytest.raises(sqlite3.DatabaseError):
        store.record_sent(sent("a1"))
    assert denied
    store.record_sent(sent("a2"))  # the next write works: no transaction was left open
    assert [a.attempt_id for a in store.attempts()] == ["a2"]
    store.close()


def test_the_journal_is_written_to_survive_a_power_cut_and_erasures_overwrite(tmp_path: Path) -> None:
    with ResponseStore(tmp_path / "store.sqlite") as store:
        for conn in (store._conn, store._reader):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_an_erased_answer_survives_nowhere_in_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connect = sqlite3.connect

    def without_secure_delete(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete=OFF")  # as on a SQLite build that does not compile it in
        return conn

    monkeypatch.setattr(sqlite3, "connect", without_secure_delete)
    marker = "+4915199988877"
    path = tmp_path / "store.sqlite"
    with ResponseStore(path) as store:
        store.record_outcome([], [StoredResponse(
            request_fingerprint="fp-x", provider="leadmagic", status="found", phones=[(marker, "mobile")],
            raw={"mobile_number": marker}, http_status=200, vendor_credits=5, matched=None,
            received_at=datetime.now(UTC))])
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert marker.encode() in path.read_bytes()
        store.forget(["fp-x"], [])
        assert store.fresh_response("fp-x", timedelta(days=1)) is None
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("store.sqlite"))
    assert marker.encode() not in blob


def test_forget_does_not_hold_the_write_lock_while_it_scans_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = ResponseStore(path)
    for i in range(200):
        store.record_sent(sent(f"a{i}", record_ids=[f"R{i}"]))
    other_writer_blocked: list[bool] = []

    def when_scanning(sql: str) -> None:
        if "FROM attempts" in sql and "record_ids" in sql and "SELECT" in sql.upper() and not other_writer_blocked:
            # Another process (a run enriching another list) wants to journal a request right now.
            other = sqlite3.connect(str(path), timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                other_writer_blocked.append(False)
            except sqlite3.OperationalError:
                other_writer_blocked.append(True)
            finally:
                other.close()

    for conn in (store._conn, getattr(store, "_reader", None)):
        if conn is not None:
            conn.set_trace_callback(when_scanning)
    _removed, scrubbed = store.forget(["fp-a7"], ["R7", "R9"])
    assert other_writer_blocked == [False], "forget held the write lock while it scanned the journal"
    assert scrubbed == 2
    assert {a.attempt_id: a.record_ids for a in store.attempts()}["a9"] == []
    store.close()


def test_the_event_loop_runs_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """The store waits (busy timeout) for another process's write lock: the event loop must not wait with it.

    The other process takes the lock when the vendor has the request, so the answer's settlement (a write) meets
    it; it lets go once the event loop has turned 20 times since, or after 10 s. A store write on the event loop
    would stop the loop until then.
    """
    path = tmp_path / "store.sqlite"
    store = ResponseStore(path)
    take, holding, loop_ran = threading.Event(), threading.Event(), threading.Event()
    released_because_loop_ran: list[bool] = []

    def other_process() -> None:
        take.wait(30)
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holding.set()
        released_because_loop_ran.append(loop_ran.wait(10))
        conn.execute("ROLLBACK")
        conn.close()

    def answer(n: int, request: WireRequest) -> Respond:
        take.set()  # the request is at the vendor: the other process takes the lock before the answer goes back
        holding.wait(10)
        return Respond(200, FOUND_BODY["leadmagic"])

    holder = threading.Thread(target=other_process)
    holder.start()
    cfg = parse_config({"waterfall": {"order": ["leadmagic"]},
                        "providers": {"leadmagic": {"rate_limit_per_second": 1000, "timeout_seconds": 30}}})

    class Rows(list):
        def add(self, row) -> None:
            self.append(row)

    async def main(base_url: str) -> Rows:
        async def ticker() -> None:
            turns = 0
            while not loop_ran.is_set():
                await asyncio.sleep(0.01)
                turns += holding.is_set()
                if turns >= 20:
                    loop_ran.set()

        def factory(name: str, journal):
            return provider_spec(name).client(cfg.provider(name), "test-key-0000", base_url, journal)

        engine = WaterfallEngine(cfg, factory, store, run_id="run1", list_id="l1")
        rows = Rows()
        tick = asyncio.create_task(ticker())
        try:
            await engine.run([Lead("l1", "r1", linkedin_url="https://www.linkedin.com/in/x")], rows)
        finally:
            loop_ran.set()
            await tick
        return rows

    with WireVendor(answer) as vendor:
        rows = asyncio.run(main(vendor.base_url))
    holder.join()
    store.close()
    assert released_because_loop_ran == [True], "the event loop stood still while the store waited for the lock"
    assert [r.outcome for r in rows] == ["found"]


#: The store's schema before unknown outcomes, kept answers and leases (what existing users have on disk).
SCHEMA_BEFORE_UNKNOWN_OUTCOMES = """
CREATE TABLE responses (request_fingerprint TEXT PRIMARY KEY, provider TEXT NOT NULL, endpoint TEXT NOT NULL,
    status TEXT NOT NULL, phones TEXT NOT NULL, raw TEXT, http_status INTEGER, vendor_credits REAL, matched INTEGER,
    received_at TEXT NOT NULL);
CREATE TABLE attempts (attempt_id TEXT PRIMARY KEY, run_id TEXT, list_id TEXT, provider TEXT NOT NULL,
    endpoint TEXT NOT NULL, request_fingerprints TEXT NOT NULL, record_ids TEXT NOT NULL, sent_at TEXT NOT NULL,
    finished_at TEXT, http_status INTEGER, outcome TEXT, credits REAL, credit_basis TEXT, usd REAL,
    worst_case_credits REAL, error TEXT);
CREATE INDEX attempts_by_run ON attempts (run_id);
"""


def test_a_store_written_before_unknown_outcomes_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    now = datetime.now(UTC)
    old = sqlite3.connect(str(path), isolation_level=None)
    old.executescript(SCHEMA_BEFORE_UNKNOWN_OUTCOMES)
    old.execute("INSERT INTO responses VALUES ('fp-answered', 'leadmagic', '', 'found', ?, '{}', 200, 5, NULL, ?)",
                ['[["+15551234567", "mobile"]]', now.isoformat()])
    # A request in flight when an old version's process died: no outcome, its run long over.
    old.execute("INSERT INTO attempts VALUES ('a-lost', 'run0', 'l1', 'leadmagic', '/x', '[\"fp-lost\"]', '[\"r1\"]', "
                "?, NULL, NULL, NULL, NULL, NULL, NULL, 5.0, NULL)", [now.isoformat()])
    old.close()

    with ResponseStore(path) as store:
        # What was bought before is still an answer: not bought again after the upgrade.
        stored = store.fresh_response("fp-answered", timedelta(days=1), now)
        assert stored is not None and stored.phones == [("+15551234567", "mobile")]
        (entry,) = ledger_table(store, active_run_ids=set()).to_pylist()
        assert (entry["outcome"], entry["worst_case_credits"], entry["uncertain_credits"]) == ("unknown", 5.0, 5.0)
        # An answer to the lost request's question settles it, as for a request booked unknown by this version.
        store.record_outcome([], [StoredResponse(
            request_fingerprint="fp-lost", provider="leadmagic", status="not_found", phones=[], raw={},
            http_status=200, vendor_credits=None, matched=None, received_at=datetime.now(UTC) + timedelta(seconds=1),
            attempt_id="a-next")], settlement="asked_again")
        (lost,) = store.attempts()
        assert (lost.settled_by, lost.settlement) == ("a-next", "asked_again")

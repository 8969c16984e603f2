"""The durable response store and request journal (SQLite, beside the DuckDB file).

Why SQLite and not DuckDB: every vendor response must be on disk the moment
it arrives, from inside the waterfall's event loop, while DuckDB allows one
writing process and must never be held while waiting on the network. SQLite
in WAL mode takes many small transactions per second from several processes
(two lists enriched at once) and survives a SIGKILL of the writer.

Two tables:

* ``responses``: one row per vendor request fingerprint whose answer was
  paid for (found or not found). A fresh row answers the same request later
  with no call. Errors are never stored here.
* ``attempts``: one row per HTTP request, written *before* it is sent. When
  the answer arrives the row gets its status, outcome and credits in the same
  transaction that stores the response. A row that never got an outcome was
  in flight when its process died: the ledger shows it as ``unknown``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    request_fingerprint TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    phones TEXT NOT NULL,
    raw TEXT,
    http_status INTEGER,
    vendor_credits REAL,
    matched INTEGER,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id TEXT PRIMARY KEY,
    run_id TEXT,
    list_id TEXT,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    request_fingerprints TEXT NOT NULL,
    record_ids TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    finished_at TEXT,
    http_status INTEGER,
    outcome TEXT,
    credits REAL,
    credit_basis TEXT,
    usd REAL,
    worst_case_credits REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts (run_id);
"""


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def _parse_ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_fingerprint: str
    provider: str
    status: str
    phones: list[tuple[str, str | None]]  # (number as the vendor wrote it, claimed type)
    raw: Any
    http_status: int | None
    vendor_credits: float | None
    matched: bool | None
    received_at: datetime


@dataclass(slots=True)
class AttemptRow:
    attempt_id: str
    run_id: str | None
    list_id: str | None
    provider: str
    endpoint: str
    request_fingerprints: list[str]
    record_ids: list[str]
    sent_at: datetime
    finished_at: datetime | None
    http_status: int | None
    outcome: str | None
    credits: float | None
    credit_basis: str | None
    usd: float | None
    worst_case_credits: float | None
    error: str | None


class AttemptTotals(NamedTuple):
    """Totals of the journal rows of one run with one (raw) outcome and credit basis: see ``attempt_totals``."""

    run_id: str | None
    outcome: str | None
    credit_basis: str | None
    attempts: int
    credits: float
    usd: float
    http_status_sum: int
    errors: int
    single_record_ids: int  # rows naming exactly one record
    record_ids: int  # record ids named, over all rows
    single_fingerprints: int  # rows with exactly one request fingerprint
    fingerprints: int  # request fingerprints, over all rows


class ResponseStore:
    """Thread-safe handle on the SQLite store; every write is its own short, durable transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is durable against a killed process (only an OS crash can lose the tail).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=60000")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ responses

    def fresh_response(self, request_fingerprint: str, max_age: timedelta, now: datetime | None = None
                       ) -> StoredResponse | None:
        """The stored answer to this request if it is younger than ``max_age``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT request_fingerprint, provider, status, phones, raw, http_status, vendor_credits, matched, "
                "received_at FROM responses WHERE request_fingerprint = ?", [request_fingerprint]
            ).fetchone()
        if row is None:
            return None
        received_at = _parse_ts(row[8])
        if received_at is None or received_at < (now or datetime.now(UTC)) - max_age:
            return None
        return StoredResponse(
            request_fingerprint=row[0], provider=row[1], status=row[2],
            phones=[(p[0], p[1]) for p in json.loads(row[3])], raw=json.loads(row[4]) if row[4] else None,
            http_status=row[5], vendor_credits=row[6], matched=None if row[7] is None else bool(row[7]),
            received_at=received_at,
        )

    # ------------------------------------------------------------------ attempts (the journal)

    def record_sent(self, row: AttemptRow) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO attempts (attempt_id, run_id, list_id, provider, endpoint, "
                "request_fingerprints, record_ids, sent_at, worst_case_credits) VALUES (?,?,?,?,?,?,?,?,?)",
                [row.attempt_id, row.run_id, row.list_id, row.provider, row.endpoint,
                 json.dumps(row.request_fingerprints), json.dumps(row.record_ids), _iso(row.sent_at),
                 row.worst_case_credits],
            )

    def record_outcome(self, attempts: list[AttemptRow], responses: list[StoredResponse]) -> None:
        """Finish attempts and store paid responses in one durable transaction."""
        with self._tx() as conn:
            for a in attempts:
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, http_status = ?, outcome = ?, credits = ?, "
                    "credit_basis = ?, usd = ?, error = ? WHERE attempt_id = ?",
                    [_iso(a.finished_at), a.http_status, a.outcome, a.credits, a.credit_basis, a.usd, a.error,
                     a.attempt_id],
                )
            for r in responses:
                conn.execute(
                    "INSERT OR REPLACE INTO responses (request_fingerprint, provider, endpoint, status, phones, raw, "
                    "http_status, vendor_credits, matched, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [r.request_fingerprint, r.provider, "", r.status, json.dumps(r.phones),
                     json.dumps(r.raw, default=str) if r.raw is not None else None, r.http_status, r.vendor_credits,
                     None if r.matched is None else int(r.matched), _iso(r.received_at)],
                )

    _ATTEMPT_COLUMNS = ("attempt_id, run_id, list_id, provider, endpoint, request_fingerprints, record_ids, sent_at, "
                        "finished_at, http_status, outcome, credits, credit_basis, usd, worst_case_credits, error")

    @staticmethod
    def _attempt_row(r: tuple) -> AttemptRow:
        return AttemptRow(attempt_id=r[0], run_id=r[1], list_id=r[2], provider=r[3], endpoint=r[4],
                          request_fingerprints=json.loads(r[5]), record_ids=json.loads(r[6]), sent_at=_parse_ts(r[7]),
                          finished_at=_parse_ts(r[8]), http_status=r[9], outcome=r[10], credits=r[11],
                          credit_basis=r[12], usd=r[13], worst_case_credits=r[14], error=r[15])

    def attempts(self, *, run_id: str | None = None) -> list[AttemptRow]:
        """Every attempt (or one run's), in journal order, in one list: for small journals and tests."""
        query = f"SELECT {self._ATTEMPT_COLUMNS} FROM attempts"
        params: list[Any] = []
        if run_id is not None:
            query += " WHERE run_id = ?"
            params.append(run_id)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY rowid", params).fetchall()
        return [self._attempt_row(r) for r in rows]

    def attempt_batches(self, batch_size: int = 50_000, run_ids: Iterable[str | None] | None = None
                        ) -> Iterator[list[AttemptRow]]:
        """Every attempt in journal order, ``batch_size`` at a time (memory bounded by the batch, not the journal).

        Each batch is read in its own short statement (keyset paging on rowid), so the lock is never held
        while the caller works on a batch; attempts written meanwhile show up in a later batch.

        With ``run_ids``, only the attempts of those runs (``None`` stands for attempts without a run), run
        by run and in journal order within a run; batches are filled across runs.
        """
        if run_ids is None:
            yield from self._attempt_pages(batch_size)
            return
        batch: list[AttemptRow] = []
        for run_id in sorted(set(run_ids), key=lambda r: (r is not None, r or "")):
            for rows in self._attempt_pages(batch_size, by_run=True, run_id=run_id):
                for row in rows:
                    batch.append(row)
                    if len(batch) == batch_size:
                        yield batch
                        batch = []
        if batch:
            yield batch

    def _attempt_pages(self, page_size: int, *, by_run: bool = False, run_id: str | None = None
                       ) -> Iterator[list[AttemptRow]]:
        """Attempts in journal order, a page per short statement (keyset paging on rowid); ``by_run``: only
        those of ``run_id``. "run_id IS ?" matches NULL too, and SQLite still searches attempts_by_run
        (run_id, rowid) with it: a small run is read without scanning the journal."""
        where = "run_id IS ? AND rowid > ?" if by_run else "rowid > ?"
        last = 0
        while True:
            params = [run_id, last, page_size] if by_run else [last, page_size]
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT rowid, {self._ATTEMPT_COLUMNS} FROM attempts WHERE {where} ORDER BY rowid LIMIT ?",
                    params).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [self._attempt_row(r[1:]) for r in rows]

    def attempt_totals(self) -> list[AttemptTotals]:
        """Per run, outcome and credit basis: how many attempts, their amounts and how many identifiers they name.

        One pass over the journal in SQLite, without building a Python object per attempt: cheap enough to
        tell, on every run, which runs' ledger rows may be out of date.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT run_id, outcome, credit_basis, count(*), total(credits), total(usd), "
                "coalesce(sum(http_status), 0), count(error), "
                "sum(json_array_length(record_ids) = 1), sum(json_array_length(record_ids)), "
                "sum(json_array_length(request_fingerprints) = 1), sum(json_array_length(request_fingerprints)) "
                "FROM attempts GROUP BY run_id, outcome, credit_basis").fetchall()
        return [AttemptTotals(*r) for r in rows]

    # ------------------------------------------------------------------ erasure

    def forget(self, request_fingerprints: Iterable[str], record_ids: Iterable[str]) -> tuple[int, int]:
        """Delete stored responses and strip identifiers from journal rows; amounts stay."""
        fps = list(set(request_fingerprints))
        ids = set(record_ids)
        removed = scrubbed = 0
        with self._tx() as conn:
            for start in range(0, len(fps), 500):
                chunk = fps[start:start + 500]
                marks = ",".join("?" * len(chunk))
                removed += conn.execute(
                    f"DELETE FROM responses WHERE request_fingerprint IN ({marks})", chunk).rowcount
            rows = conn.execute("SELECT attempt_id, request_fingerprints, record_ids FROM attempts").fetchall()
            fp_set = set(fps)
            for attempt_id, fp_json, ids_json in rows:
                old_fps, old_ids = json.loads(fp_json), json.loads(ids_json)
                new_fps = [f for f in old_fps if f not in fp_set]
                new_ids = [i for i in old_ids if i not in ids]
                if new_fps != old_fps or new_ids != old_ids:
                    conn.execute("UPDATE attempts SET request_fingerprints = ?, record_ids = ? WHERE attempt_id = ?",
                                 [json.dumps(new_fps), json.dumps(new_ids), attempt_id])
                    scrubbed += 1
        return removed, scrubbed

"""The durable response store and request journal (SQLite, beside the DuckDB file).

Why SQLite and not DuckDB: every vendor response must be on disk the moment
it arrives, from inside the waterfall's event loop, while DuckDB allows one
writing process and must never be held while waiting on the network. SQLite
in WAL mode takes many small transactions per second from several processes
(two lists enriched at once) and survives a SIGKILL of the writer.

Tables:

* ``attempts`` (the journal): one row per HTTP request, written *before* it is sent, naming the lease of the
  process that sent it (``owner_id``). When the request ends the row gets its status, outcome and credits; a
  paid answer gets them in the same transaction that stores the response. A row without an outcome is in
  flight while its owner's lease is alive, and ``unknown`` once it is not (the process died). An ``unknown``
  row is *settled* (``settled_by``, ``settled_at``, ``settlement``) by a later answer to the same question.
* ``kept_answers``: every paid 2xx body exactly as it arrived, with what was asked, written when it arrives and
  before anything reads it. An answer the client cannot read stays here and is read again after a parser fix;
  it is never bought again.
* ``responses``: one row per request fingerprint whose answer was paid for and read (found or not found). A
  fresh row answers the same request later with no call. Errors are never stored here.
* ``attempt_fingerprints``: which attempts asked which question (to settle ``unknown`` rows, find kept answers).
* ``leases``: one row per process sending requests (owner id, run id, pid, host, expiry), renewed by a
  heartbeat (``storage/lease.py``).
* ``reported_costs``: the most a vendor has reported for one call to an endpoint, so that a budget reserves at
  least that much.
* ``store_meta``: the key check of an encrypted store.

Encryption at rest (``storage/store_crypto.py``, with ``ENRICHMENT_ENCRYPTION_KEY``): the personal fields of
``responses`` (numbers, body) and of ``kept_answers`` (request, headers, body) are sealed, and ``responses`` is
looked up by a keyed hash of the request fingerprint (the fingerprint itself sealed in ``fingerprint_sealed``,
for rotation).

Durability: WAL with ``synchronous=FULL`` (a request written as sent survives a power cut, not only a killed
process), ``secure_delete`` (an erased answer is overwritten, not left in free pages). Every write is one short
transaction; a failed COMMIT is rolled back, so the connection stays usable. Reads go through their own
connection, so a reader never waits behind a writer that waits on another process's lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from enrichment_assets.storage.store_crypto import (
    PLAIN,
    StoreCipher,
    StoreKeyError,
    StoreState,
    check_key,
)
from enrichment_assets.vendors.base import ReceivedAnswer

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
CREATE TABLE IF NOT EXISTS attempt_fingerprints (
    request_fingerprint TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    PRIMARY KEY (request_fingerprint, attempt_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kept_answers (
    attempt_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    request_fingerprints TEXT NOT NULL,
    request TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    content BLOB NOT NULL,
    received_at TEXT NOT NULL,
    read_by_parser INTEGER,
    read_ok INTEGER NOT NULL DEFAULT 0,
    read_error TEXT
);
CREATE TABLE IF NOT EXISTS leases (
    owner_id TEXT PRIMARY KEY,
    run_id TEXT,
    pid INTEGER,
    host TEXT,
    started_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    released_at TEXT
);
CREATE TABLE IF NOT EXISTS reported_costs (
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    max_credits REAL NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, endpoint)
);
CREATE TABLE IF NOT EXISTS store_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Columns added to tables of an older store (``ALTER TABLE ... ADD COLUMN`` on open).
_ADDED_COLUMNS = {
    "attempts": (("owner_id", "TEXT"), ("settled_by", "TEXT"), ("settled_at", "TEXT"), ("settlement", "TEXT")),
    "responses": (("attempt_id", "TEXT"), ("parser_version", "INTEGER"), ("fingerprint_sealed", "TEXT")),
}

#: An unknown attempt that a later answer may settle: booked unknown, or answerless with no live owner.
_OPEN_UNKNOWN = ("a.settled_by IS NULL AND (a.outcome = 'unknown' OR (a.outcome IS NULL AND "
                 "coalesce(a.owner_id NOT IN (SELECT owner_id FROM leases WHERE released_at IS NULL "
                 "AND expires_at > ?), TRUE)))")

#: Statements per transaction in ``forget``: each holds the write lock only that long.
_FORGET_CHUNK = 500


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
    #: The attempt that brought the answer, and the parser that read it.
    attempt_id: str | None = None
    parser_version: int | None = None


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """A paid 2xx answer as it arrived (``kept_answers``), not yet read into ``responses``."""

    attempt_id: str
    provider: str
    request_fingerprints: list[str]
    answer: ReceivedAnswer
    received_at: datetime
    #: The parser version that last tried to read it (``None``: never read), and why it failed.
    read_by_parser: int | None
    read_error: str | None


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
    owner_id: str | None = None
    settled_by: str | None = None
    settled_at: datetime | None = None
    settlement: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A process's claim to be alive and sending requests; its attempts name it (``attempts.owner_id``)."""

    owner_id: str
    run_id: str | None
    pid: int
    host: str
    expires_at: datetime


class AttemptTotals(NamedTuple):
    """Totals of the journal rows of one run, owner, outcome and credit basis: see ``attempt_totals``."""

    run_id: str | None
    owner_id: str | None
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
    settled: int  # rows settled by a later answer
    billed_once: int  # of which settled as billed once
    uncertain: float  # what the rows without a certain outcome may have cost beyond their credits


class Expired(NamedTuple):
    """What :meth:`ResponseStore.expire` deleted or stripped."""

    answers: int  # stored answers (``responses``)
    kept_answers: int  # kept 2xx bodies (``kept_answers``)
    journal_rows: int  # journal rows stripped of their identifiers


@dataclass
class Settled:
    """How one ``record_outcome`` call settled earlier ``unknown`` attempts (attempt id -> settling attempt id)."""

    by: dict[str, str] = field(default_factory=dict)


def read_store_state(path: Path) -> StoreState:
    """The key check and whether unencrypted answers are stored, read without writing anything (a read-only
    connection): a store refused for its key is left byte for byte as it was."""
    if not path.exists():
        return StoreState(None, False)
    # Without a WAL file everything is in the database file: read it as immutable, which creates no -wal or
    # -shm file either. With one (a process has the store open), an ordinary read-only connection sees it.
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True, timeout=60)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check = (conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
                 if "store_meta" in tables else None)
        answers = any(table in tables and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None  # noqa: S608 - names from code, values bound
                      for table in ("responses", "kept_answers"))
    finally:
        conn.close()
    return StoreState(check[0] if check else None, answers and check is None)


def verify_store_key(path: Path, cipher: StoreCipher) -> None:
    """Raise StoreKeyError unless ``cipher`` may open the store at ``path``; writes nothing."""
    check_key(cipher, read_store_state(path), str(path))


class ResponseStore:
    """Thread-safe handle on the SQLite store; every write is its own short, durable transaction.

    ``cipher`` (``storage/store_crypto.py``) seals the personal fields (numbers, vendor bodies) and keys the
    lookups when the store is encrypted; it is checked against the store before anything is written, so a wrong
    or missing key raises ``StoreKeyError`` and leaves the file as it was.
    """

    def __init__(self, path: Path, cipher: StoreCipher = PLAIN) -> None:
        self.path = Path(path)
        self.cipher = cipher
        record_key_check = check_key(cipher, self._read_state(), str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._in_group = False
        self._savepoints = 0
        self._conn = self._connect()
        with self._lock:
            self._conn.executescript(SCHEMA)
            self._migrate()
            self._conn.execute(
                "CREATE INDEX IF NOT EXISTS attempts_open ON attempts (provider) "
                "WHERE outcome IS NULL OR outcome = 'unknown'")
            if record_key_check:
                self._conn.execute("INSERT OR IGNORE INTO store_meta VALUES ('key_check', ?)", [cipher.key_check()])
                # Two processes may encrypt a new store at once with different keys: the first one wins.
                stored_check = self._conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
        if record_key_check:
            try:
                check_key(cipher, StoreState(stored_check[0], False), str(self.path))
            except StoreKeyError:
                self._conn.close()
                raise
        # Reads have their own connection: WAL readers never wait for writers, so a read is never stuck behind a
        # write waiting (busy timeout) on another process's lock.
        self._read_lock = threading.Lock()
        self._reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a COMMIT is on disk when it returns, so a request journaled as sent survives a power cut (NORMAL
        # in WAL mode survives a killed process but may lose the last transactions on an OS crash).
        conn.execute("PRAGMA synchronous=FULL")
        # Deleted rows (an erased person's answers) are overwritten with zeros, whatever the build's default.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    def _migrate(self) -> None:
        upgraded = False
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in present:
                    try:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        upgraded = True
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
        if upgraded:  # a store from before the fingerprint index: index the attempts a later answer may settle
            self._conn.execute(
                "INSERT OR IGNORE INTO attempt_fingerprints SELECT j.value, a.attempt_id "
                "FROM attempts a, json_each(a.request_fingerprints) j WHERE a.outcome IS NULL OR a.outcome = 'unknown'")

    def _read_state(self) -> StoreState:
        return read_store_state(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._read_lock:
            self._reader.close()

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Whatever fails (a statement or the COMMIT itself), the transaction is rolled
        back: a connection left inside a transaction would fail every later BEGIN. Inside :meth:`group`, a
        savepoint of the group's transaction instead (its failure undoes only its own writes)."""
        with self._lock:
            if self._in_group:
                name = f"write_{self._savepoints}"
                self._savepoints += 1
                self._conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                    raise
                self._conn.execute(f"RELEASE {name}")
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def group(self) -> Iterator[None]:
        """Several writes in one transaction (one wait for the disk instead of one each): each write inside runs
        in a savepoint; nothing is durable before the block's COMMIT, and a failed COMMIT undoes all of them."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_group = True
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_group = False

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._read_lock:
            return self._reader.execute(sql, list(params)).fetchall()

    # ------------------------------------------------------------------ responses

    def fresh_response(self, request_fingerprint: str, max_age: timedelta, now: datetime | None = None
                       ) -> StoredResponse | None:
        """The stored answer to this request if it is younger than ``max_age``."""
        rows = self._read(
            "SELECT request_fingerprint, provider, status, phones, raw, http_status, vendor_credits, matched, "
            "received_at, attempt_id, parser_version FROM responses WHERE request_fingerprint = ?",
            [self.cipher.lookup_key(request_fingerprint)])
        if not rows:
            return None
        row = rows[0]
        received_at = _parse_ts(row[8])
        if received_at is None or received_at < (now or datetime.now(UTC)) - max_age:
            return None
        return self._stored(request_fingerprint, row, received_at)

    def _stored(self, request_fingerprint: str, row: tuple, received_at: datetime) -> StoredResponse:
        phones, raw = self.cipher.open(row[3], "phones"), self.cipher.open(row[4], "raw")
        return StoredResponse(
            request_fingerprint=request_fingerprint, provider=row[1], status=row[2],
            phones=[(p[0], p[1]) for p in json.loads(phones or "[]")], raw=json.loads(raw) if raw else None,
            http_status=row[5], vendor_credits=row[6], matched=None if row[7] is None else bool(row[7]),
            received_at=received_at, attempt_id=row[9], parser_version=row[10],
        )

    def copy_response(self, from_fingerprint: str, to_fingerprint: str) -> bool:
        """Store the answer of one fingerprint under another too (a question whose fingerprint changed with a
        new normalization): same answer, same age. False when there is nothing to copy or it exists already."""
        with self._tx() as conn:
            return conn.execute(
                "INSERT OR IGNORE INTO responses (request_fingerprint, provider, endpoint, status, phones, raw, "
                "http_status, vendor_credits, matched, received_at, attempt_id, parser_version, fingerprint_sealed) "
                "SELECT ?, provider, endpoint, status, phones, raw, http_status, vendor_credits, matched, "
                "received_at, attempt_id, parser_version, ? FROM responses WHERE request_fingerprint = ?",
                [self.cipher.lookup_key(to_fingerprint),
                 self.cipher.seal(to_fingerprint, "fingerprint") if self.cipher.encrypted else None,
                 self.cipher.lookup_key(from_fingerprint)]).rowcount > 0

    def stored_answers(self, request_fingerprints: Iterable[str]) -> list[StoredResponse]:
        """The stored answers to these requests, whatever their age (a data subject's copy)."""
        found: list[StoredResponse] = []
        for fp in sorted(set(request_fingerprints)):
            rows = self._read(
                "SELECT request_fingerprint, provider, status, phones, raw, http_status, vendor_credits, matched, "
                "received_at, attempt_id, parser_version FROM responses WHERE request_fingerprint = ?",
                [self.cipher.lookup_key(fp)])
            if rows:
                found.append(self._stored(fp, rows[0], _parse_ts(rows[0][8]) or datetime.now(UTC)))
        return found

    # ------------------------------------------------------------------ attempts (the journal)

    def record_sent(self, row: AttemptRow) -> None:
        with self._tx() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO attempts (attempt_id, run_id, list_id, provider, endpoint, "
                "request_fingerprints, record_ids, sent_at, worst_case_credits, owner_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                [row.attempt_id, row.run_id, row.list_id, row.provider, row.endpoint,
                 json.dumps(row.request_fingerprints), json.dumps(row.record_ids), _iso(row.sent_at),
                 row.worst_case_credits, row.owner_id],
            ).rowcount
            if inserted:
                conn.executemany("INSERT OR IGNORE INTO attempt_fingerprints VALUES (?, ?)",
                                 [(fp, row.attempt_id) for fp in dict.fromkeys(row.request_fingerprints)])

    def record_finished(self, row: AttemptRow, answer: ReceivedAnswer | None = None) -> None:
        """An attempt ended: its status, outcome (``None`` for an answer still to be read) and error; a 2xx body
        is kept as received, in the same transaction, before anything reads it."""
        with self._tx() as conn:
            self._update_attempt(conn, row)
            if answer is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO kept_answers (attempt_id, provider, request_fingerprints, request, "
                    "http_status, headers, content, received_at) VALUES (?,?,?,?,?,?,?,?)",
                    [row.attempt_id, row.provider, json.dumps(row.request_fingerprints),
                     self.cipher.seal(json.dumps(answer.request, default=str), "request"), answer.http_status,
                     self.cipher.seal(json.dumps(answer.headers), "headers"),
                     self.cipher.seal_bytes(answer.content, "content"), _iso(row.finished_at or datetime.now(UTC))])

    @staticmethod
    def _update_attempt(conn: sqlite3.Connection, a: AttemptRow) -> None:
        conn.execute(
            "UPDATE attempts SET finished_at = ?, http_status = ?, outcome = ?, credits = ?, credit_basis = ?, "
            "usd = ?, error = ? WHERE attempt_id = ?",
            [_iso(a.finished_at), a.http_status, a.outcome, a.credits, a.credit_basis, a.usd, a.error, a.attempt_id])

    def record_outcome(self, attempts: list[AttemptRow], responses: list[StoredResponse], *,
                       answers_read: Iterable[tuple[str, int, str | None]] = (),
                       settlement: str | None = None, settled_at: datetime | None = None,
                       same_answer_ids: Iterable[str] = (), read_later_ids: Iterable[str] = ()) -> Settled:
        """Book attempts and store paid responses in one durable transaction.

        ``answers_read``: kept answers this reading concerns, as ``(attempt_id, parser_version, error)`` (``None``:
        read in full). ``settlement``: how each stored response settles the open ``unknown`` attempts that asked
        the same question before it (none when ``None``); ``same_answer_ids`` are attempts not to settle (the
        answer's own). ``read_later_ids``: attempts whose own kept answer this reading booked (settled by
        themselves, ``read_later``). Vendor-reported credits raise the provider's remembered highest cost.
        """
        settled = Settled()
        now = settled_at or datetime.now(UTC)
        with self._tx() as conn:
            for a in attempts:
                self._update_attempt(conn, a)
                if a.credit_basis == "vendor_reported" and a.credits is not None:
                    conn.execute(
                        "INSERT INTO reported_costs VALUES (?, ?, ?, ?) ON CONFLICT (provider, endpoint) DO UPDATE "
                        "SET max_credits = max(max_credits, excluded.max_credits), updated_at = excluded.updated_at",
                        [a.provider, a.endpoint, a.credits, _iso(now)])
            for r in responses:
                conn.execute(
                    "INSERT OR REPLACE INTO responses (request_fingerprint, provider, endpoint, status, phones, raw, "
                    "http_status, vendor_credits, matched, received_at, attempt_id, parser_version, "
                    "fingerprint_sealed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [self.cipher.lookup_key(r.request_fingerprint), r.provider, "", r.status,
                     self.cipher.seal(json.dumps(r.phones), "phones"),
                     self.cipher.seal(json.dumps(r.raw, default=str) if r.raw is not None else None, "raw"),
                     r.http_status, r.vendor_credits, None if r.matched is None else int(r.matched),
                     _iso(r.received_at), r.attempt_id, r.parser_version,
                     self.cipher.seal(r.request_fingerprint, "fingerprint") if self.cipher.encrypted else None],
                )
            for attempt_id, parser_version, error in answers_read:
                conn.execute("UPDATE kept_answers SET read_by_parser = ?, read_ok = ?, read_error = ? "
                             "WHERE attempt_id = ?", [parser_version, int(error is None), error, attempt_id])
            conn.executemany("UPDATE attempts SET settled_by = attempt_id, settled_at = ?, settlement = 'read_later' "
                             "WHERE attempt_id = ?", [(_iso(now), a) for a in read_later_ids])
            if settlement is not None and responses:
                self._settle_unknowns(conn, responses, settlement, now, set(same_answer_ids), settled)
        return settled

    def _settle_unknowns(self, conn: sqlite3.Connection, responses: list[StoredResponse], settlement: str,
                         now: datetime, own: set[str], settled: Settled) -> None:
        """Settle the open ``unknown`` attempts whose every question now has an answer (a batch attempt only
        once all of its questions do): ``settled_by`` names the attempt that answered the last of them."""
        answered_by = {r.request_fingerprint: r.attempt_id for r in responses if r.attempt_id}
        candidates: dict[str, tuple[str, str]] = {}
        for fp in answered_by:
            for attempt_id, fps_json, sent_at in conn.execute(
                    "SELECT a.attempt_id, a.request_fingerprints, a.sent_at FROM attempt_fingerprints f "  # noqa: S608 - names from code, values bound
                    f"JOIN attempts a USING (attempt_id) WHERE f.request_fingerprint = ? AND {_OPEN_UNKNOWN}",
                    [fp, _iso(now)]):
                if attempt_id not in own:
                    candidates[attempt_id] = (fps_json, sent_at)
        for attempt_id, (fps_json, sent_at) in candidates.items():
            fps = json.loads(fps_json)
            if not fps:
                continue
            marks = ",".join("?" * len(fps))
            answered = conn.execute(
                f"SELECT count(*) FROM responses WHERE request_fingerprint IN ({marks}) AND received_at >= ?",  # noqa: S608 - names from code, values bound
                [*(self.cipher.lookup_key(fp) for fp in fps), sent_at]).fetchone()[0]
            if answered < len(set(fps)):
                continue
            by = next((answered_by[fp] for fp in reversed(fps) if fp in answered_by), None)
            conn.execute("UPDATE attempts SET settled_by = ?, settled_at = ?, settlement = ? WHERE attempt_id = ?",
                         [by, _iso(now), settlement, attempt_id])
            settled.by[attempt_id] = by or ""

    def kept_answers(self, request_fingerprint: str) -> list[KeptAnswer]:
        """Paid answers kept for this question and not yet read into ``responses``, newest first."""
        rows = self._read(
            "SELECT k.attempt_id, k.provider, k.request_fingerprints, k.request, k.http_status, k.headers, "
            "k.content, k.received_at, k.read_by_parser, k.read_error FROM attempt_fingerprints f "
            "JOIN kept_answers k USING (attempt_id) WHERE f.request_fingerprint = ? AND k.read_ok = 0 "
            "ORDER BY k.received_at DESC", [request_fingerprint])
        return [KeptAnswer(attempt_id=r[0], provider=r[1], request_fingerprints=json.loads(r[2]),
                           answer=ReceivedAnswer(request=json.loads(self.cipher.open(r[3], "request") or "null"),
                                                 http_status=r[4],
                                                 headers=json.loads(self.cipher.open(r[5], "headers") or "{}"),
                                                 content=self.cipher.open_bytes(bytes(r[6]), "content")),
                           received_at=_parse_ts(r[7]) or datetime.now(UTC), read_by_parser=r[8], read_error=r[9])
                for r in rows]

    def attempt(self, attempt_id: str) -> AttemptRow | None:
        rows = self._read(f"SELECT {self._ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = ?", [attempt_id])  # noqa: S608 - names from code, values bound
        return self._attempt_row(rows[0]) if rows else None

    _ATTEMPT_COLUMNS = ("attempt_id, run_id, list_id, provider, endpoint, request_fingerprints, record_ids, sent_at, "
                        "finished_at, http_status, outcome, credits, credit_basis, usd, worst_case_credits, error, "
                        "owner_id, settled_by, settled_at, settlement")

    @staticmethod
    def _attempt_row(r: tuple) -> AttemptRow:
        return AttemptRow(attempt_id=r[0], run_id=r[1], list_id=r[2], provider=r[3], endpoint=r[4],
                          request_fingerprints=json.loads(r[5]), record_ids=json.loads(r[6]), sent_at=_parse_ts(r[7]),
                          finished_at=_parse_ts(r[8]), http_status=r[9], outcome=r[10], credits=r[11],
                          credit_basis=r[12], usd=r[13], worst_case_credits=r[14], error=r[15], owner_id=r[16],
                          settled_by=r[17], settled_at=_parse_ts(r[18]), settlement=r[19])

    def attempts(self, *, run_id: str | None = None) -> list[AttemptRow]:
        """Every attempt (or one run's), in journal order, in one list: for small journals and tests."""
        query = f"SELECT {self._ATTEMPT_COLUMNS} FROM attempts"  # noqa: S608 - names from code, values bound
        params: list[Any] = []
        if run_id is not None:
            query += " WHERE run_id = ?"
            params.append(run_id)
        return [self._attempt_row(r) for r in self._read(query + " ORDER BY rowid", params)]

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
            rows = self._read(
                f"SELECT rowid, {self._ATTEMPT_COLUMNS} FROM attempts WHERE {where} ORDER BY rowid LIMIT ?", params)  # noqa: S608 - names from code, values bound
            if not rows:
                return
            last = rows[-1][0]
            yield [self._attempt_row(r[1:]) for r in rows]

    def attempt_totals(self) -> list[AttemptTotals]:
        """Per run, owner, outcome and credit basis: how many attempts, their amounts, how many identifiers they
        name and how many were settled.

        One pass over the journal in SQLite, without building a Python object per attempt: cheap enough to
        tell, on every run, which runs' ledger rows may be out of date.
        """
        rows = self._read(
            "SELECT run_id, owner_id, outcome, credit_basis, count(*), total(credits), total(usd), "
            "coalesce(sum(http_status), 0), count(error), "
            "sum(json_array_length(record_ids) = 1), sum(json_array_length(record_ids)), "
            "sum(json_array_length(request_fingerprints) = 1), sum(json_array_length(request_fingerprints)), "
            "count(settled_by), count(*) FILTER (WHERE settlement = 'billed_once'), "
            "total(CASE WHEN (outcome IS NULL OR outcome = 'unknown') AND settlement IS NOT 'billed_once' "
            "THEN max(0, coalesce(worst_case_credits, 0) - coalesce(credits, 0)) ELSE 0 END) "
            "FROM attempts GROUP BY run_id, owner_id, outcome, credit_basis")
        return [AttemptTotals(*r) for r in rows]

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, lease: Lease) -> None:
        now = datetime.now(UTC)
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                         [lease.owner_id, lease.run_id, lease.pid, lease.host, _iso(now), _iso(now),
                          _iso(lease.expires_at)])

    def renew_lease(self, owner_id: str, expires_at: datetime) -> bool:
        """Push the lease's expiry out; False when it was released (or never taken)."""
        with self._tx() as conn:
            return conn.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE owner_id = ? "
                                "AND released_at IS NULL",
                                [_iso(datetime.now(UTC)), _iso(expires_at), owner_id]).rowcount > 0

    def release_lease(self, owner_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE leases SET released_at = ? WHERE owner_id = ?", [_iso(datetime.now(UTC)), owner_id])

    def live_owners(self, now: datetime | None = None) -> set[str]:
        """Owners whose lease is held and not expired: their answerless attempts are still in flight."""
        rows = self._read("SELECT owner_id FROM leases WHERE released_at IS NULL AND expires_at > ?",
                          [_iso(now or datetime.now(UTC))])
        return {r[0] for r in rows}

    def leases(self) -> list[Lease]:
        rows = self._read("SELECT owner_id, run_id, pid, host, expires_at FROM leases ORDER BY started_at")
        return [Lease(r[0], r[1], r[2], r[3], _parse_ts(r[4]) or datetime.now(UTC)) for r in rows]

    # ------------------------------------------------------------------ costs

    def reported_cost(self, provider: str, endpoint: str) -> float | None:
        """The most the vendor has reported for one call to this endpoint (``None``: it never said)."""
        rows = self._read("SELECT max_credits FROM reported_costs WHERE provider = ? AND endpoint = ?",
                          [provider, endpoint])
        return float(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ retention and keys

    def expire(self, received_before: datetime, list_ids: Iterable[str] = ()) -> Expired:
        """Retention: delete the answers (stored and kept) received before ``received_before`` and strip the
        identifiers (record ids, request fingerprints) from the journal rows sent before it or sent for
        ``list_ids``: their kept answers and their entries in ``attempt_fingerprints`` go too. Amounts, providers
        and dates stay."""
        lists = sorted(set(list_ids))
        cutoff = _iso(received_before)
        stripped = ("SELECT attempt_id FROM attempts WHERE sent_at < ? OR list_id IN (SELECT value FROM json_each(?))")
        with self._tx() as conn:
            removed = conn.execute("DELETE FROM responses WHERE received_at < ?", [cutoff]).rowcount
            kept = conn.execute(f"DELETE FROM kept_answers WHERE received_at < ? OR attempt_id IN ({stripped})",  # noqa: S608 - names from code, values bound
                                [cutoff, cutoff, json.dumps(lists)]).rowcount
            conn.execute(f"DELETE FROM attempt_fingerprints WHERE attempt_id IN ({stripped})",  # noqa: S608 - names from code, values bound
                         [cutoff, json.dumps(lists)])
            scrubbed = conn.execute(
                "UPDATE attempts SET request_fingerprints = '[]', record_ids = '[]' "
                "WHERE (sent_at < ? OR list_id IN (SELECT value FROM json_each(?))) "
                "AND (request_fingerprints <> '[]' OR record_ids <> '[]')", [cutoff, json.dumps(lists)]).rowcount
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Expired(removed, kept, scrubbed)

    def rekey(self, new: StoreCipher) -> int:
        """Re-encrypt every stored and kept answer under ``new`` (from no key: encrypt; to no key: decrypt), in one
        transaction, then rewrite the file so no page keeps a value sealed under the old key. Returns the stored
        answers (``responses``) re-encrypted."""
        old = self.cipher
        with self._tx() as conn:
            rows = conn.execute("SELECT rowid, request_fingerprint, phones, raw, fingerprint_sealed FROM responses"
                                ).fetchall()
            for rowid, key, phones, raw, sealed in rows:
                fp = old.open(sealed, "fingerprint") if old.encrypted else key
                if fp is None:
                    raise StoreKeyError(
                        f"a stored answer in {self.path} has no sealed fingerprint: the file was altered"
                    )
                conn.execute(
                    "UPDATE responses SET request_fingerprint = ?, phones = ?, raw = ?, fingerprint_sealed = ? "
                    "WHERE rowid = ?",
                    [new.lookup_key(fp), new.seal(old.open(phones, "phones"), "phones"),
                     new.seal(old.open(raw, "raw"), "raw"), new.seal(fp, "fingerprint") if new.encrypted else None,
                     rowid])
            kept = conn.execute("SELECT attempt_id, request, headers, content FROM kept_answers").fetchall()
            conn.executemany(
                "UPDATE kept_answers SET request = ?, headers = ?, content = ? WHERE attempt_id = ?",
                [(new.seal(old.open(request, "request"), "request"), new.seal(old.open(headers, "headers"), "headers"),
                  new.seal_bytes(old.open_bytes(bytes(content), "content"), "content"), attempt_id)
                 for attempt_id, request, headers, content in kept])
            conn.execute("DELETE FROM store_meta WHERE name = 'key_check'")
            if new.encrypted:
                conn.execute("INSERT INTO store_meta VALUES ('key_check', ?)", [new.key_check()])
        self.cipher = new
        with self._lock:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(rows)

    # ------------------------------------------------------------------ erasure

    def forget(self, request_fingerprints: Iterable[str], record_ids: Iterable[str]) -> tuple[int, int]:
        """Delete stored and kept answers and strip identifiers from journal rows; amounts stay.

        In short transactions: the journal is scanned page by page without holding the write lock, and the rows
        to change are rewritten ``_FORGET_CHUNK`` at a time, so requests of running enrichments are never held
        up for long. A row written while it runs names no one being erased (they are no longer in any list).
        """
        fps = sorted(set(request_fingerprints))
        fp_set, ids = set(fps), set(record_ids)
        removed, _ = self.forget_answers(fps)
        scrubbed = 0
        changes: list[tuple[str, str, str]] = []
        for page in self._journal_identifier_pages():
            for attempt_id, fp_json, ids_json in page:
                old_fps, old_ids = json.loads(fp_json), json.loads(ids_json)
                new_fps = [f for f in old_fps if f not in fp_set]
                new_ids = [i for i in old_ids if i not in ids]
                if new_fps != old_fps or new_ids != old_ids:
                    changes.append((json.dumps(new_fps), json.dumps(new_ids), attempt_id))
        for start in range(0, len(changes), _FORGET_CHUNK):
            with self._tx() as conn:
                conn.executemany("UPDATE attempts SET request_fingerprints = ?, record_ids = ? WHERE attempt_id = ?",
                                 changes[start:start + _FORGET_CHUNK])
            scrubbed += len(changes[start:start + _FORGET_CHUNK])
        # The WAL still holds the pages as they were before the deletes: copy the zeroed pages into the database
        # and empty it, so the erased answers survive nowhere on disk.
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed, scrubbed

    def forget_answers(self, request_fingerprints: Iterable[str]) -> tuple[int, int]:
        """Delete the stored and kept answers to these questions (and which attempts asked them), in short
        transactions; the journal rows are left as they are. Returns (stored answers, kept answers) deleted."""
        fps = sorted(set(request_fingerprints))
        removed = kept_removed = 0
        for start in range(0, len(fps), _FORGET_CHUNK):
            chunk = fps[start:start + _FORGET_CHUNK]
            marks = ",".join("?" * len(chunk))
            with self._tx() as conn:
                removed += conn.execute(f"DELETE FROM responses WHERE request_fingerprint IN ({marks})",  # noqa: S608 - names from code, values bound
                                        [self.cipher.lookup_key(fp) for fp in chunk]).rowcount
                kept = [r[0] for r in conn.execute(
                    f"SELECT DISTINCT attempt_id FROM attempt_fingerprints WHERE request_fingerprint IN ({marks})",  # noqa: S608 - names from code, values bound
                    chunk)]
                for k in range(0, len(kept), _FORGET_CHUNK):
                    part = kept[k:k + _FORGET_CHUNK]
                    kept_removed += conn.execute(
                        f"DELETE FROM kept_answers WHERE attempt_id IN ({','.join('?' * len(part))})", part).rowcount  # noqa: S608 - names from code, values bound
                conn.execute(f"DELETE FROM attempt_fingerprints WHERE request_fingerprint IN ({marks})", chunk)  # noqa: S608 - names from code, values bound
        return removed, kept_removed

    def _journal_identifier_pages(self, page_size: int = 50_000) -> Iterator[list[tuple[str, str, str]]]:
        last = 0
        while True:
            rows = self._read("SELECT rowid, attempt_id, request_fingerprints, record_ids FROM attempts "
                              "WHERE rowid > ? ORDER BY rowid LIMIT ?", [last, page_size])
            if not rows:
                return
            last = rows[-1][0]
            yield [r[1:] for r in rows]

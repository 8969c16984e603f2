"""The state store on SQLite, beside the DuckDB file: the default backend (``storage/state_store.py``).

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
* ``claims``: which process's lease holds each request fingerprint in flight (``storage/claims.py``).
* ``reported_costs``: the most a vendor has reported for one call to an endpoint, so that a budget reserves at
  least that much.
* ``store_meta``: the key check of an encrypted store.

Encryption at rest (``storage/store_crypto.py``, with ``ENRICHMENT_ENCRYPTION_KEY``): the personal fields of
``responses`` (numbers, body) and of ``kept_answers`` (request, headers, body) are sealed, and ``responses`` is
looked up by a keyed hash of the request fingerprint (the fingerprint itself sealed in ``fingerprint_sealed``,
for rotation).

The queries are the same on both backends and live in ``store_answers.py``, ``store_journal.py``,
``claims.py`` and ``store_upkeep.py``; this module holds what is SQLite's own: the file, its pragmas, its schema
and the columns added to stores of older versions, and the transactions.

Durability: WAL with ``synchronous=FULL`` (a request written as sent survives a power cut, not only a killed
process), ``secure_delete`` (an erased answer is overwritten, not left in free pages). Every write is one short
transaction; a failed COMMIT is rolled back, so the connection stays usable. Reads go through their own
connection, so a reader never waits behind a writer that waits on another process's lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from enrichment_assets.storage.claims import LeasesAndClaims
from enrichment_assets.storage.store_crypto import (
    PLAIN,
    StoreCipher,
    StoreKeyError,
    StoreState,
    check_key,
)
from enrichment_assets.storage.store_journal import Journal
from enrichment_assets.storage.store_records import (  # noqa: F401 - re-exported: the store's values, as before
    AttemptRow,
    AttemptTotals,
    Expired,
    KeptAnswer,
    Lease,
    Settled,
    StoredResponse,
)
from enrichment_assets.storage.store_sql import SQLITE
from enrichment_assets.storage.store_upkeep import Upkeep

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
CREATE TABLE IF NOT EXISTS claims (
    request_fingerprint TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    released_at TEXT,
    outcome TEXT
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

#: Columns added to tables of an older store (``ALTER TABLE ... ADD COLUMN`` on open).
_ADDED_COLUMNS = {
    "attempts": (("owner_id", "TEXT"), ("settled_by", "TEXT"), ("settled_at", "TEXT"), ("settlement", "TEXT")),
    "responses": (("attempt_id", "TEXT"), ("parser_version", "INTEGER"), ("fingerprint_sealed", "TEXT")),
}


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
        answers = any(table in tables and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                      for table in ("responses", "kept_answers"))
    finally:
        conn.close()
    return StoreState(check[0] if check else None, answers and check is None)


def verify_store_key(path: Path, cipher: StoreCipher) -> None:
    """Raise StoreKeyError unless ``cipher`` may open the store at ``path``; writes nothing."""
    check_key(cipher, read_store_state(path), str(path))


class ResponseStore(Journal, LeasesAndClaims, Upkeep):
    """Thread-safe handle on the SQLite store; every write is its own short, durable transaction.

    ``cipher`` (``storage/store_crypto.py``) seals the personal fields (numbers, vendor bodies) and keys the
    lookups when the store is encrypted; it is checked against the store before anything is written, so a wrong
    or missing key raises ``StoreKeyError`` and leaves the file as it was.
    """

    dialect = SQLITE

    def __init__(self, path: Path, cipher: StoreCipher = PLAIN) -> None:
        self.path = Path(path)
        self.where = str(self.path)
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
                self._conn.execute("INSERT INTO store_meta VALUES ('key_check', ?) ON CONFLICT DO NOTHING",
                                   [cipher.key_check()])
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

    def _after_erasure(self) -> None:
        # The WAL still holds the pages as they were before the deletes: copy the zeroed pages into the database
        # and empty it, so the erased answers survive nowhere on disk.
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _compact(self) -> None:
        with self._lock:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

"""The state store on PostgreSQL (``ENRICHMENT_STATE_URL=postgresql://…``): answers, journal, leases, claims.

The same tables, the same meaning and the same queries as the SQLite store (``storage/response_store.py``; the
queries in ``store_answers.py``, ``store_journal.py``, ``claims.py``, ``store_upkeep.py``), shared by every
process on every machine that reaches the server: a run launched on an empty disk finds every answer paid
before, and the in-flight claims keep two runs anywhere from sending one request twice. Encryption at rest
(``ENRICHMENT_ENCRYPTION_KEY``) seals the same fields; the key check lives in ``store_meta`` as in the file.

This module holds what is PostgreSQL's own: the connection pool (psycopg 3, ``psycopg_pool``: the waterfall's
writer thread, its reader thread, the claims and the lease heartbeat each take a connection when they need
one), the schema and its migrations, and the transactions. Each write is one transaction; :meth:`group` runs
several in one (each in a savepoint), as the SQLite store's group commit does.

Migrations run on first use, under a transaction-level advisory lock: two processes starting at once on an
empty database do not both create the tables; the second waits and finds them made. ``schema_version`` says
which migrations ran. Timestamps are ISO 8601 text in UTC, as in the SQLite file, so every comparison in the
shared queries means the same on both.

Erasure and retention run ``VACUUM`` on the tables they deleted from, so dead row versions do not wait for
autovacuum; a key rotation runs ``VACUUM FULL`` (the tables are rewritten). As with SQLite's WAL, PostgreSQL's
write-ahead log, replicas and base backups keep old pages for as long as the server's retention says.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import ConnectionPool

from enrichment_assets.storage.claims import LeasesAndClaims
from enrichment_assets.storage.store_crypto import (
    PLAIN,
    StoreCipher,
    StoreKeyError,
    StoreState,
    StoreUnreachableError,
    check_key,
)
from enrichment_assets.storage.store_journal import Journal
from enrichment_assets.storage.store_sql import POSTGRES
from enrichment_assets.storage.store_upkeep import Upkeep

#: Any constant: the key of the advisory lock that serializes migrations of this schema in one database.
_MIGRATION_LOCK = 7_301_114_019

_V1 = """
CREATE TABLE IF NOT EXISTS responses (
    request_fingerprint text PRIMARY KEY,
    provider text NOT NULL,
    endpoint text NOT NULL,
    status text NOT NULL,
    phones text NOT NULL,
    raw text,
    http_status integer,
    vendor_credits double precision,
    matched integer,
    received_at text NOT NULL,
    attempt_id text,
    parser_version integer,
    fingerprint_sealed text
);
CREATE TABLE IF NOT EXISTS attempts (
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    attempt_id text PRIMARY KEY,
    run_id text,
    list_id text,
    provider text NOT NULL,
    endpoint text NOT NULL,
    request_fingerprints text NOT NULL,
    record_ids text NOT NULL,
    sent_at text NOT NULL,
    finished_at text,
    http_status integer,
    outcome text,
    credits double precision,
    credit_basis text,
    usd double precision,
    worst_case_credits double precision,
    error text,
    owner_id text,
    settled_by text,
    settled_at text,
    settlement text
);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts (run_id, seq);
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (provider) WHERE outcome IS NULL OR outcome = 'unknown';
CREATE TABLE IF NOT EXISTS attempt_fingerprints (
    request_fingerprint text NOT NULL,
    attempt_id text NOT NULL,
    PRIMARY KEY (request_fingerprint, attempt_id)
);
CREATE TABLE IF NOT EXISTS kept_answers (
    attempt_id text PRIMARY KEY,
    provider text NOT NULL,
    request_fingerprints text NOT NULL,
    request text NOT NULL,
    http_status integer NOT NULL,
    headers text NOT NULL,
    content bytea NOT NULL,
    received_at text NOT NULL,
    read_by_parser integer,
    read_ok integer NOT NULL DEFAULT 0,
    read_error text
);
CREATE TABLE IF NOT EXISTS leases (
    owner_id text PRIMARY KEY,
    run_id text,
    pid integer,
    host text,
    started_at text NOT NULL,
    renewed_at text NOT NULL,
    expires_at text NOT NULL,
    released_at text
);
CREATE TABLE IF NOT EXISTS reported_costs (
    provider text NOT NULL,
    endpoint text NOT NULL,
    max_credits double precision NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (provider, endpoint)
);
CREATE TABLE IF NOT EXISTS claims (
    request_fingerprint text PRIMARY KEY,
    owner_id text NOT NULL,
    claimed_at text NOT NULL,
    released_at text,
    outcome text
);
CREATE TABLE IF NOT EXISTS store_meta (
    name text PRIMARY KEY,
    value text NOT NULL
);
"""

#: Migrations in order; ``schema_version`` holds how many have run. Append, never edit one that shipped.
MIGRATIONS: tuple[str, ...] = (_V1,)

_ERASED_TABLES = "responses, kept_answers, attempt_fingerprints, attempts, claims"


def describe_url(url: str) -> str:
    """The server and database of a URL, without user or password (for messages and logs)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{parts.hostname or 'localhost'}{port}{parts.path}"


def migrate(conn: psycopg.Connection) -> int:
    """Bring the schema up to date; returns the version it is at. Safe when several processes run it at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES (0)")
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(sql)
            conn.execute("UPDATE schema_version SET version = %s", [number])
            version = number
    return version


def read_postgres_state(conn: psycopg.Connection) -> StoreState:
    """The key check and whether unencrypted answers are stored (reads only)."""
    tables = {r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
    check = (conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
             if "store_meta" in tables else None)
    answers = any(table in tables and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                  for table in ("responses", "kept_answers"))
    return StoreState(check[0] if check else None, answers and check is None)


def verify_postgres_key(url: str, cipher: StoreCipher) -> None:
    """Raise StoreKeyError unless ``cipher`` may open the state store at ``url``, StoreUnreachableError when its
    server does not answer; writes nothing."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        # psycopg's first line names host, port and user, never the password.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnreachableError(
            f"the state store at {describe_url(url)} cannot be reached ({reason}): check ENRICHMENT_STATE_URL "
            "and that the server is up") from None
    with conn:
        check_key(cipher, read_postgres_state(conn), describe_url(url))


class PgConnection:
    """A psycopg connection speaking the shared queries' ``?`` placeholders (``store_sql.Connection``)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.raw.execute(_pg(sql), list(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor:
        cur = self.raw.cursor()
        cur.executemany(_pg(sql), [list(r) for r in rows])
        return cur


def _pg(sql: str) -> str:
    # The shared queries hold no literal '?' or '%' (checked by the store tests running on PostgreSQL).
    return sql.replace("?", "%s")


class PostgresStateStore(Journal, LeasesAndClaims, Upkeep):
    """Thread-safe handle on the state store in PostgreSQL; the same methods as the SQLite ``ResponseStore``."""

    dialect = POSTGRES
    claims_outside_groups = True
    _claim_retry_errors = (psycopg.errors.DeadlockDetected,)
    _claim_busy_errors = (psycopg.errors.LockNotAvailable,)

    def __init__(self, url: str, cipher: StoreCipher = PLAIN, *, max_connections: int = 12) -> None:
        self.where = describe_url(url)
        self.cipher = cipher
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=False,
                                    kwargs={"autocommit": True}, name="enrichment-state")
        self._pool.open(wait=True, timeout=30)
        self._group = threading.local()
        try:
            with self._pool.connection() as conn:
                record_key_check = check_key(cipher, read_postgres_state(conn), self.where)
                migrate(conn)
                if record_key_check:
                    conn.execute("INSERT INTO store_meta VALUES ('key_check', %s) ON CONFLICT DO NOTHING",
                                 [cipher.key_check()])
                    # Two processes may encrypt a new store at once with different keys: the first one wins.
                    stored = conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
                    check_key(cipher, StoreState(stored[0], False), self.where)
        except (StoreKeyError, psycopg.Error):
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[PgConnection]:
        """One write transaction; inside :meth:`group` (same thread), a savepoint of the group's transaction."""
        conn = getattr(self._group, "conn", None)
        if conn is not None:
            with conn.transaction():
                yield PgConnection(conn)
            return
        with self._pool.connection() as conn, conn.transaction():
            yield PgConnection(conn)

    @contextmanager
    def _claim_tx(self) -> Iterator[PgConnection]:
        """A transaction of its own, even inside a group: the claim row is locked for that statement only, never
        while a group's other writes wait to commit (a release, by contrast, commits with its answer)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            # Visible to every other process at COMMIT either way; not waiting for the WAL flush saves a disk
            # wait per request. A claim lost to a server crash costs at most one concurrent duplicate request.
            conn.execute("SET LOCAL synchronous_commit = off")
            yield PgConnection(conn)

    @contextmanager
    def group(self) -> Iterator[None]:
        with self._pool.connection() as conn, conn.transaction():
            self._group.conn = conn
            try:
                yield
            finally:
                self._group.conn = None

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Sequence[Any]]:
        with self._pool.connection() as conn:
            return conn.execute(_pg(sql), list(params)).fetchall()

    def _vacuum(self, full: bool) -> None:
        with self._pool.connection() as conn:  # autocommit: VACUUM cannot run inside a transaction
            conn.execute(f"VACUUM {'FULL ' if full else ''}{_ERASED_TABLES}, store_meta")

    def _after_erasure(self) -> None:
        self._vacuum(full=False)

    def _compact(self) -> None:
        self._vacuum(full=True)

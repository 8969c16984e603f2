"""The state store's interface: stored answers, the request journal, leases and in-flight claims.

Two backends implement it:

* SQLite (``storage/response_store.py``), the default: one file beside the DuckDB file, embedded, nothing to set
  up. Every process on the machine that opens the same file shares it, claims included.
* PostgreSQL (``storage/state_postgres.py``), chosen with ``ENRICHMENT_STATE_URL=postgresql://…``: every process
  on every machine that reaches the server shares it, so a run on an empty disk (a run launched in a fresh
  container) finds every answer paid before, and two runs anywhere never send the same request at once.

Both run the same queries (``store_answers.py``, ``store_journal.py``, ``claims.py``, ``store_upkeep.py``) over
a thin connection layer (``store_sql.py``); a backend only brings its connections, transactions and schema.
Encryption at rest (a ``StoreCipher``), retention, erasure and key rotation work the same on both. The
waterfall, the ledger, erasure and the forecast see only this interface.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from enrichment_assets.storage.claims import Claim
from enrichment_assets.storage.response_store import ResponseStore, verify_store_key
from enrichment_assets.storage.store_crypto import PLAIN, StoreCipher
from enrichment_assets.storage.store_records import (
    AttemptRow,
    AttemptTotals,
    Expired,
    KeptAnswer,
    Lease,
    Settled,
    StoredResponse,
)
from enrichment_assets.vendors.base import ReceivedAnswer

#: The environment variable that moves the state store to PostgreSQL.
STATE_URL_ENV = "ENRICHMENT_STATE_URL"


@runtime_checkable
class StateStore(Protocol):
    """What every backend offers. Every write is durable when it returns; ``group`` makes several one."""

    #: Where it is, for messages (a path, or a server and database without user or password).
    where: str
    cipher: StoreCipher

    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def group(self) -> AbstractContextManager[None]: ...

    # responses
    def fresh_response(self, request_fingerprint: str, max_age: timedelta, now: datetime | None = None
                       ) -> StoredResponse | None: ...
    def copy_response(self, from_fingerprint: str, to_fingerprint: str) -> bool: ...
    def stored_answers(self, request_fingerprints: Iterable[str]) -> list[StoredResponse]: ...

    # the journal
    def record_sent(self, row: AttemptRow) -> None: ...
    def record_finished(self, row: AttemptRow, answer: ReceivedAnswer | None = None) -> None: ...
    def record_outcome(self, attempts: list[AttemptRow], responses: list[StoredResponse], *,
                       answers_read: Iterable[tuple[str, int, str | None]] = (),
                       settlement: str | None = None, settled_at: datetime | None = None,
                       same_answer_ids: Iterable[str] = (), read_later_ids: Iterable[str] = ()) -> Settled: ...
    def kept_answers(self, request_fingerprint: str) -> list[KeptAnswer]: ...
    def attempt(self, attempt_id: str) -> AttemptRow | None: ...
    def attempts(self, *, run_id: str | None = None) -> list[AttemptRow]: ...
    def attempt_batches(self, batch_size: int = 50_000, run_ids: Iterable[str | None] | None = None
                        ) -> Iterator[list[AttemptRow]]: ...
    def attempt_totals(self) -> list[AttemptTotals]: ...

    # leases
    def acquire_lease(self, lease: Lease) -> None: ...
    def renew_lease(self, owner_id: str, expires_at: datetime) -> bool: ...
    def release_lease(self, owner_id: str) -> None: ...
    def live_owners(self, now: datetime | None = None) -> set[str]: ...
    def leases(self) -> list[Lease]: ...

    # in-flight claims (storage/claims.py)
    def claim(self, request_fingerprint: str, owner_id: str, now: datetime | None = None) -> Claim | None: ...
    def release_claim(self, request_fingerprint: str, owner_id: str, outcome: str) -> None: ...
    def claim_of(self, request_fingerprint: str, now: datetime | None = None) -> Claim | None: ...

    # costs, retention, erasure, keys
    def reported_cost(self, provider: str, endpoint: str) -> float | None: ...
    def expire(self, received_before: datetime, list_ids: Iterable[str] = ()) -> Expired: ...
    def forget(self, request_fingerprints: Iterable[str], record_ids: Iterable[str]) -> tuple[int, int]: ...
    def forget_answers(self, request_fingerprints: Iterable[str]) -> tuple[int, int]: ...
    def rekey(self, new: StoreCipher) -> int: ...
    def import_rows(self, sql: str, rows: list[Sequence[Any]]) -> int: ...


def state_url_from_env() -> str | None:
    """``ENRICHMENT_STATE_URL`` when set (a ``postgresql://`` URL), else ``None`` (SQLite beside the DuckDB file)."""
    value = os.environ.get(STATE_URL_ENV, "").strip()
    if not value:
        return None
    check_state_url(value)
    return value


def check_state_url(url: str) -> None:
    if not url.startswith(("postgresql://", "postgres://")):
        # Never echo the URL: it may hold a password.
        raise ValueError(f"{STATE_URL_ENV} must be a postgresql:// URL")


def open_state_store(sqlite_path: Path, state_url: str | None = None, cipher: StoreCipher = PLAIN) -> StateStore:
    """The state store: PostgreSQL at ``state_url`` when given, else the SQLite file at ``sqlite_path``; opened
    with ``cipher`` (a wrong or missing key raises ``StoreKeyError`` before anything is written)."""
    if state_url:
        check_state_url(state_url)
        from enrichment_assets.storage.state_postgres import PostgresStateStore

        return PostgresStateStore(state_url, cipher)
    return ResponseStore(sqlite_path, cipher)


def verify_state_key(sqlite_path: Path, state_url: str | None, cipher: StoreCipher) -> None:
    """Raise StoreKeyError unless ``cipher`` may open the state store; writes nothing."""
    if state_url:
        check_state_url(state_url)
        from enrichment_assets.storage.state_postgres import verify_postgres_key

        verify_postgres_key(state_url, cipher)
        return
    verify_store_key(sqlite_path, cipher)


def state_exists(sqlite_path: Path, state_url: str | None = None) -> bool:
    """Whether there may be stored answers to read (a shared server always may; a missing file never has)."""
    return bool(state_url) or sqlite_path.exists()


def describe_state(sqlite_path: Path, state_url: str | None = None) -> str:
    """Where the state lives, for logs: the SQLite path, or the server and database without user or password."""
    if not state_url:
        return str(sqlite_path)
    from enrichment_assets.storage.state_postgres import describe_url

    return describe_url(state_url)

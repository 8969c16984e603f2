"""The thin layer between the store's queries and a database: what differs between SQLite and PostgreSQL.

The store's queries are written once (``store_answers.py``, ``store_journal.py``, ``claims.py``,
``store_upkeep.py``), with ``?`` placeholders and SQL both databases run: ``INSERT ... ON CONFLICT`` (SQLite
3.24+), ``RETURNING`` (3.35+), ``count(*) FILTER`` (3.30+). The few spellings that differ come from a
:class:`Dialect`; a backend (``response_store.py``, ``state_postgres.py``) supplies the connections and the
transactions, as :class:`StoreBackend` says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from enrichment_assets.storage.store_crypto import StoreCipher


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Sequence[Any] | None: ...
    def fetchall(self) -> list[Sequence[Any]]: ...


class Connection(Protocol):
    """What a write transaction hands the queries: ``sqlite3.Connection`` as it is, psycopg through
    ``state_postgres.PgConnection`` (which turns ``?`` into ``%s``)."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor: ...


@dataclass(frozen=True)
class Dialect:
    """The spellings that differ between the two databases."""

    name: str
    #: The column that orders the journal as it was written (SQLite's ``rowid``, PostgreSQL's identity ``seq``).
    seq: str
    #: The larger of two values (SQLite's two-argument ``max``, PostgreSQL's ``greatest``).
    greatest: str
    #: How a JSON text column is read as JSON (``json_array_length`` takes text in SQLite, json in PostgreSQL).
    json_cast: str

    def json_len(self, column: str) -> str:
        return f"json_array_length({column}{self.json_cast})"


SQLITE = Dialect("sqlite", seq="rowid", greatest="max", json_cast="")
POSTGRES = Dialect("postgresql", seq="seq", greatest="greatest", json_cast="::json")


def marks(values: Sized) -> str:
    """``?,?,…``: one placeholder per value, for ``IN (…)`` (never an empty list: callers check)."""
    return ",".join("?" * len(values))


class StoreBackend:
    """What the query modules use of a backend. A backend class sets these and mixes the query classes in."""

    #: Where the store is, for messages (a file path, or a server and database without the password).
    where: str
    cipher: StoreCipher
    dialect: Dialect
    #: Whether claims run in a transaction of their own from any thread (PostgreSQL), instead of queueing with
    #: the grouped writes on the writer thread (SQLite: one write lock for the file anyway).
    claims_outside_groups: bool = False

    def _tx(self) -> AbstractContextManager[Connection]:
        """One write transaction (a savepoint of the group's transaction inside :meth:`group`)."""
        raise NotImplementedError

    def _claim_tx(self) -> AbstractContextManager[Connection]:
        """The transaction a claim is taken in (``claims.py``)."""
        return self._tx()

    #: Errors on which a claim is tried again (a deadlock PostgreSQL broke), and errors that mean the claim row
    #: is locked by a writer that may wait on us (reported as held: the caller looks again later).
    _claim_retry_errors: tuple[type[BaseException], ...] = ()
    _claim_busy_errors: tuple[type[BaseException], ...] = ()

    def group(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError

    def _read_pages(self, sql: str, params: list[Any]) -> Iterator[list[Sequence[Any]]]:
        """Keyset paging for the journal: ``sql`` selects ``seq`` first and ends with ``seq > ? ORDER BY seq
        LIMIT ?``; ``params`` ends with the page size."""
        last = 0
        while True:
            rows = self._read(sql, [*params[:-1], last, params[-1]])
            if not rows:
                return
            last = rows[-1][0]
            yield rows

    def import_rows(self, sql: str, rows: list[Sequence[Any]]) -> int:
        """Run one ``INSERT`` per row in one transaction; how many rows it added or changed (``state_copy.py``:
        rows of another store, copied as they are)."""
        with self._tx() as conn:
            return max(conn.executemany(sql, rows).rowcount, 0)

    def _after_erasure(self) -> None:
        """After deletes of personal data: make sure no copy of the deleted rows stays where the backend can
        clear it (SQLite: the WAL; PostgreSQL: dead row versions)."""

    def _compact(self) -> None:
        """After a rekey: rewrite the storage so no page keeps a value sealed under the old key."""

"""A state store under test, on either backend: open it, look at what it holds at rest, query it.

"At rest" is what an attacker with the storage would read: for SQLite the database file and its WAL, byte for
byte; for PostgreSQL every row of every table as the server returns it (text columns as text, ``bytea`` as its
bytes), since the server's files are not ours to read.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrichment_assets.storage.state_store import StateStore, open_state_store, verify_state_key
from enrichment_assets.storage.store_crypto import PLAIN, StoreCipher

TABLES = ("responses", "attempts", "attempt_fingerprints", "kept_answers", "leases", "reported_costs", "claims",
          "store_meta")


@dataclass(frozen=True)
class StoreUnderTest:
    backend: str  # "sqlite" or "postgres"
    path: Path  # the SQLite file (unused on PostgreSQL)
    url: str | None  # ENRICHMENT_STATE_URL (None on SQLite)

    def open(self, cipher: StoreCipher = PLAIN) -> StateStore:
        return open_state_store(self.path, self.url, cipher)

    def verify(self, cipher: StoreCipher) -> None:
        verify_state_key(self.path, self.url, cipher)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a query with ``?`` placeholders, outside any store handle."""
        if self.url is None:
            with contextlib.closing(sqlite3.connect(str(self.path))) as conn:
                return conn.execute(sql, list(params)).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), list(params)).fetchall()]

    def at_rest(self) -> bytes:
        """Everything the store holds, as bytes (see the module's docstring)."""
        if self.url is None:
            wal = self.path.with_name(self.path.name + "-wal")
            return self.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        out: list[bytes] = []
        for table in TABLES:
            for row in self.query(f"SELECT * FROM {table}"):
                for value in row:
                    out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
        return b"\n".join(out)

    def snapshot(self) -> str:
        """A digest of the store as it is: equal before and after means nothing was written."""
        if self.url is None:
            files = sorted(p for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
            return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
        tables = {r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        dump = [f"{t}:{sorted(map(repr, self.query(f'SELECT * FROM {t}')))}" for t in sorted(tables)]
        return hashlib.sha256("\n".join(dump).encode()).hexdigest()

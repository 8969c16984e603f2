"""What each step last built from, so a rerun with the same inputs can keep its output instead of rebuilding it.

A step records a digest of its inputs (``step_state``) in the same transaction as its output; the next run
computes the digest again and, when it matches, leaves the output as it is. Digests are content hashes
(DuckDB's ``hash`` of whole rows), so a changed row, an added or a removed one changes them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb

#: The scope of a step that covers every list (the ledger, dbt).
ALL_LISTS = "*"


def stable_digest(*parts: Any) -> str:
    """sha256 of JSON-encoded parts (sorted keys): the same inputs give the same digest in any process."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def file_stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time of a file this package wrote, None when it is gone: a digest that includes
    it changes when someone deletes or replaces the file."""
    stat = path.stat() if path.exists() else None
    return (stat.st_size, stat.st_mtime_ns) if stat else None


def table_digest(conn: duckdb.DuckDBPyConnection, table: str, where: str = "TRUE",
                 params: list[Any] | None = None) -> str:
    """Row count and the sum of row hashes of ``table`` (rows matching ``where``): order-independent.

    ``table`` and ``where`` are SQL written by this package (constant table names); values go in ``params``.
    """
    # fetchall, not fetchone: DuckDB keeps a half-read result open, and the relation API then refuses to run.
    [(count, total)] = conn.execute(
        f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {table} t WHERE {where}",  # noqa: S608
        params or []).fetchall()
    return f"{count}:{total}"


def read_digest(conn: duckdb.DuckDBPyConnection, step: str, scope: str) -> str | None:
    rows = conn.execute("SELECT digest FROM step_state WHERE step = ? AND scope = ? ORDER BY updated_at DESC "
                        "LIMIT 1", [step, scope]).fetchall()
    return rows[0][0] if rows else None


def write_digest(conn: duckdb.DuckDBPyConnection, step: str, scope: str, digest: str) -> None:
    """Record what ``step`` built ``scope`` from; call it inside the transaction that writes the output."""
    conn.execute("DELETE FROM step_state WHERE step = ? AND scope = ?", [step, scope])
    conn.execute("INSERT INTO step_state VALUES (?, ?, ?, now())", [step, scope, digest])


def forget_digests(conn: duckdb.DuckDBPyConnection, scopes: list[str], keep_steps: tuple[str, ...] = ()) -> None:
    """Make the next run rebuild these scopes (and every all-lists step) from scratch; ``keep_steps`` records
    facts rather than digests and stay."""
    conn.execute("DELETE FROM step_state WHERE (scope = ? OR scope IN (SELECT unnest(?::VARCHAR[]))) "
                 "AND step NOT IN (SELECT unnest(?::VARCHAR[]))", [ALL_LISTS, scopes, list(keep_steps)])

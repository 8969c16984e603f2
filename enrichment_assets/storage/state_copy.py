"""Carrying a SQLite state store over to another state store (``enrich copy-state``): the paid answers, the
kept answers, the request journal and the vendors' reported costs.

A user who moves to PostgreSQL (``ENRICHMENT_STATE_URL``) keeps what was already paid for: without the copy
the first run on the new store would buy every answer again. The copy is idempotent: rows already there are
left alone (a stored answer is replaced only by a newer one; a reported cost only rises), so running it twice,
or after some runs on the new store, adds only what is missing.

Values are copied as they are stored: the same key (``ENRICHMENT_ENCRYPTION_KEY``) opens both stores, so sealed
fields and keyed lookups stay valid; the command checks the key against both before it copies anything. The
journal is copied in its order, so the ledger built from the new store lists the same entries in the same
order. Leases and claims are not copied: they describe processes, and a copy is refused while a process holds
a live lease on the source.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from enrichment_assets.storage.state_store import StateStore
from enrichment_assets.storage.store_records import iso

#: Rows per transaction on the target.
CHUNK = 1_000

_RESPONSES = ("request_fingerprint, provider, endpoint, status, phones, raw, http_status, vendor_credits, matched, "
              "received_at, attempt_id, parser_version, fingerprint_sealed")
_ATTEMPTS = ("attempt_id, run_id, list_id, provider, endpoint, request_fingerprints, record_ids, sent_at, finished_at, "
             "http_status, outcome, credits, credit_basis, usd, worst_case_credits, error, owner_id, settled_by, "
             "settled_at, settlement")
_KEPT = ("attempt_id, provider, request_fingerprints, request, http_status, headers, content, received_at, "
         "read_by_parser, read_ok, read_error")


def _updates(columns: str, key: str) -> str:
    return ", ".join(f"{c} = excluded.{c}" for c in (c.strip() for c in columns.split(",")) if c != key)


def _insert(table: str, columns: str, conflict: str) -> str:
    marks = ",".join("?" * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}"  # noqa: S608 - names, placeholders and dialect spellings from code; values bound


class LiveSource(Exception):
    """A process holds a live lease on the source store: its requests are still being written."""


@dataclass
class CopyCounts:
    """Rows of each table: how many the source holds, and how many of them the copy added or updated."""

    source: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)


def _source_rows(conn: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    cursor = conn.execute(sql)
    while rows := cursor.fetchmany(CHUNK):
        yield rows


def copy_state(source_path: Path, target: StateStore, now: datetime | None = None) -> CopyCounts:
    """Copy the SQLite store at ``source_path`` into ``target`` (see the module's docstring); the source is only
    read. Raises ``LiveSource`` when a process is writing to the source."""
    plan = (
        ("responses", f"SELECT {_RESPONSES} FROM responses",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
         _insert("responses", _RESPONSES, "ON CONFLICT (request_fingerprint) DO UPDATE SET "
                 + _updates(_RESPONSES, "request_fingerprint")
                 + " WHERE excluded.received_at > responses.received_at")),
        ("attempts", f"SELECT {_ATTEMPTS} FROM attempts ORDER BY rowid",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
         _insert("attempts", _ATTEMPTS, "ON CONFLICT DO NOTHING")),
        ("attempt_fingerprints", "SELECT request_fingerprint, attempt_id FROM attempt_fingerprints",
         _insert("attempt_fingerprints", "request_fingerprint, attempt_id", "ON CONFLICT DO NOTHING")),
        ("kept_answers", f"SELECT {_KEPT} FROM kept_answers", _insert("kept_answers", _KEPT, "ON CONFLICT DO NOTHING")),  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        ("reported_costs", "SELECT provider, endpoint, max_credits, updated_at FROM reported_costs",
         _insert("reported_costs", "provider, endpoint, max_credits, updated_at",
                 "ON CONFLICT (provider, endpoint) DO UPDATE SET max_credits = excluded.max_credits, "
                 "updated_at = excluded.updated_at WHERE excluded.max_credits > reported_costs.max_credits")),
    )
    counts = CopyCounts()
    uri = f"file:{quote(str(source_path))}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=60)) as source:
        live = source.execute("SELECT count(*) FROM leases WHERE released_at IS NULL AND expires_at > ?",
                              [iso(now or datetime.now(UTC))]).fetchone()[0]
        if live:
            raise LiveSource(f"{live} process(es) still hold a lease on {source_path}: let them finish first")
        for table, select, insert in plan:
            counts.source[table] = counts.copied[table] = 0
            for rows in _source_rows(source, select):
                counts.copied[table] += target.import_rows(insert, rows)
                counts.source[table] += len(rows)
    return counts

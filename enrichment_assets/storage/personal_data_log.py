"""The audit trail of personal-data requests (``personal_data_requests``): each export (a data subject's copy),
each erasure and each retention pass, with who asked, when, and what was found or deleted, as counts only.

Never who it was about: an erased person's email in the trail of their erasure would undo it. ``identified_by``
names the kind of identifier given (``email``, ``linkedin_url``, ``record_id``), not its value.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb


@dataclass(frozen=True)
class RequestCounts:
    records_found: int | None = None
    rows_found: int | None = None
    answers_found: int | None = None
    ledger_entries: int | None = None
    suppression_entries: int | None = None
    rows_deleted: int | None = None
    answers_deleted: int | None = None
    ledger_entries_scrubbed: int | None = None


def requester(explicit: str | None = None) -> str:
    """Who asked: ``--requested-by`` when given, else the operating-system user running the command."""
    if explicit and explicit.strip():
        return explicit.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "unknown"


def log_request(conn: duckdb.DuckDBPyConnection, kind: str, requested_by: str, identified_by: str | None,
                counts: RequestCounts, at: datetime | None = None) -> str:
    """Append one request to the trail; returns its id."""
    request_id = uuid.uuid4().hex
    values = asdict(counts)
    conn.execute(
        "INSERT INTO personal_data_requests (request_id, kind, requested_by, requested_at, identified_by, "  # noqa: S608 - names from code, values bound
        + ", ".join(values) + ") VALUES (?, ?, ?, ?, ?, " + ", ".join("?" * len(values)) + ")",
        [request_id, kind, requested_by, at or datetime.now(UTC), identified_by, *values.values()])
    return request_id

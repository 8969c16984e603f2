"""What the state store holds, as Python values: stored and kept answers, journal rows, leases, totals.

Both backends (``storage/response_store.py`` on SQLite, ``storage/state_postgres.py`` on PostgreSQL) read and
write these through the same queries (``storage/store_answers.py``, ``store_journal.py``, ``claims.py``,
``store_upkeep.py``). Timestamps are stored as ISO 8601 text in UTC on both, so that comparing two of them in
SQL is comparing the strings, as the SQLite file has always done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from enrichment_assets.vendors.base import ReceivedAnswer


def iso(ts: datetime | None) -> str | None:
    """A timestamp as the store writes it (UTC, ISO 8601)."""
    return ts.astimezone(UTC).isoformat() if ts else None


def parse_ts(text: str | None) -> datetime | None:
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

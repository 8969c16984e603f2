"""The common shapes every vendor client returns, and the helpers they share.

This module is part of the domain core: no Dagster, no storage. The waterfall
engine builds on these names (``CallStatus``, ``PhoneClaim``, ``Attempt``,
``VendorResult``, ``AttemptJournal``, ``request_fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

# One free-mail list for the whole project; re-exported here for the vendor clients that import it from base.
from enrichment_assets.leads.email_domains import (  # noqa: F401
    FREE_MAIL_DOMAINS,
    email_domain,
    email_kind,
    is_free_mail,
)
from enrichment_assets.outcomes import CallStatus, LedgerOutcome


@dataclass(slots=True)
class PhoneClaim:
    """One number as a vendor returned it."""

    #: Exactly as the vendor wrote it (``+1-555-0100`` stays with its dashes).
    number: str
    #: ``"mobile"`` for LeadMagic (its endpoint only returns mobiles); Pronto's object ``type``
    #: when given; else ``None`` (the vendor makes no claim).
    claimed_type: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_attempt_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class ReceivedAnswer:
    """A 2xx answer exactly as it arrived, with what was asked: kept before it is read (so never bought again)."""

    #: ``Request.as_sent()``: what the request asked (without the key), to read a batch answer again later.
    request: dict[str, Any]
    http_status: int
    headers: dict[str, str]
    content: bytes


@dataclass(slots=True)
class Attempt:
    """One HTTP request to a vendor (a retry is a new attempt)."""

    attempt_id: str
    provider: str
    endpoint: str
    #: The request fingerprints this HTTP request answers (one; or one per distinct
    #: identifier of a Crustdata batch).
    request_fingerprints: list[str]
    sent_at: datetime
    finished_at: datetime | None = None
    http_status: int | None = None
    #: Masked, human readable; ``None`` for a 2xx response.
    error: str | None = None
    #: What the vendor says this request cost (LeadMagic ``credits_consumed``); ``None`` when it does not say.
    vendor_credits: float | None = None
    #: How the client classified the request once it ended: its ledger outcome. ``None`` while in flight,
    #: and for a 2xx answer, whose outcome is settled with the parsed answer (found, not found, ...).
    outcome: LedgerOutcome | None = None
    #: A 2xx body as received (JSON or not): the journal keeps it before anything reads it.
    answer: ReceivedAnswer | None = None


@dataclass(slots=True)
class VendorResult:
    """The outcome of one lookup (one lead; for Crustdata, one identifier of a batch)."""

    provider: str
    status: CallStatus
    #: Vendor order; deduplicated only where the vendor repeats a string exactly.
    phones: list[PhoneClaim] = field(default_factory=list)
    #: What the vendor reports it charged for this lookup; ``None`` when it does not say.
    vendor_credits: float | None = None
    #: Crustdata: whether the identifier matched a person. ``None`` for other vendors.
    matched: bool | None = None
    #: Pronto: work and personal emails returned (each is priced when enrichment_type asks for it).
    emails_found: int = 0
    personal_emails_found: int = 0
    #: The numbers the answer held, repeats included, where the vendor bills each one (Enrich Layer); ``None``:
    #: price by ``phones``.
    numbers_billed: int | None = None
    #: HTTP status of the final response; ``None`` when no response came (timeouts, short-circuits).
    http_status: int | None = None
    #: Parsed JSON of the final response (Crustdata: this identifier's element), or the raw text
    #: when it was not valid JSON; ``None`` when there was no response.
    raw: Any = None
    #: Human readable and masked: never an API key, a phone number or an email.
    error: str | None = None
    #: Every HTTP attempt made for this lookup, retries included, in order. For a Crustdata batch
    #: the attempts are shared by every identifier in it (deduplicate by ``attempt_id``).
    attempts: list[Attempt] = field(default_factory=list)
    #: A paid 2xx answer the client could not read (unexpected shape): it is kept as received and read again
    #: after a parser fix, never bought again.
    unread: bool = False


@runtime_checkable
class AttemptJournal(Protocol):
    """Durable record of requests: ``sent`` before each attempt leaves, ``finished`` when it ends.

    Both are awaited from the event loop and return once the record is durable (the store does its I/O off the
    loop). An exception raised by the journal is not swallowed: it propagates to the caller of ``lookup`` (a
    request that cannot be recorded as sent is not sent). When the calling task is cancelled while a request
    is in flight, ``finished`` is not called: the attempt stays "sent", i.e. its outcome is unknown.
    """

    async def sent(self, attempt: Attempt) -> None: ...

    async def finished(self, attempt: Attempt) -> None: ...


class NullJournal:
    """A journal that records nothing."""

    async def sent(self, attempt: Attempt) -> None:
        pass

    async def finished(self, attempt: Attempt) -> None:
        pass


class ListJournal:
    """An in-memory journal (tests, debugging): keeps every event in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Attempt]] = []

    async def sent(self, attempt: Attempt) -> None:
        self.events.append(("sent", attempt))

    async def finished(self, attempt: Attempt) -> None:
        self.events.append(("finished", attempt))

    @property
    def attempts(self) -> list[Attempt]:
        return [a for kind, a in self.events if kind == "sent"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_fingerprint(provider: str, endpoint: str, identity: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of (provider, endpoint, identity)."""
    payload = canonical_json({"provider": provider, "endpoint": endpoint, "identity": identity})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def as_float(value: Any) -> float | None:
    """A number from a vendor's JSON (a number or a numeric string); ``None`` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values (a field the lead does not have is not sent)."""
    return {k: v for k, v in values.items() if v is not None}


def dedupe_exact(numbers: Iterable[PhoneClaim]) -> list[PhoneClaim]:
    """Drop a claim whose number string repeats one already seen exactly (vendor order kept)."""
    seen: set[str] = set()
    out: list[PhoneClaim] = []
    for claim in numbers:
        if claim.number in seen:
            continue
        seen.add(claim.number)
        out.append(claim)
    return out

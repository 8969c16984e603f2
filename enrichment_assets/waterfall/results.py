"""What a waterfall run produces: a row per lead and provider it reached, and the run's counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from enrichment_assets.outcomes import RowOutcome
from enrichment_assets.storage.store_records import StoredResponse


@dataclass(slots=True)
class ProviderRow:
    """One lead at one provider: a row of ``<provider>_results``."""

    list_id: str
    record_id: str
    provider: str
    request_fingerprint: str | None
    outcome: RowOutcome
    phones: list[str]
    claimed_types: list[str | None]
    credits: float
    called_at: datetime | None
    from_cache: bool
    http_status: int | None = None
    error: str | None = None
    #: The providers this lead was walked through this time, in order (``<provider>_results.walk_order``).
    walk_order: list[str] | None = None


def row_from_stored(base: dict[str, Any], fp: str, stored: StoredResponse) -> ProviderRow:
    """The row of a lead answered from the store: no call, no credits, the answer's own date."""
    return ProviderRow(**base, request_fingerprint=fp, outcome=RowOutcome(stored.status),
                       phones=[n for n, _ in stored.phones], claimed_types=[t for _, t in stored.phones],
                       credits=0.0, called_at=stored.received_at, from_cache=True, http_status=stored.http_status)


class ResultSink(Protocol):
    def add(self, row: ProviderRow) -> None: ...


@dataclass
class ProviderStats:
    leads: int = 0
    calls: int = 0
    cache_hits: int = 0
    shared: int = 0
    found: int = 0
    mobiles: int = 0
    ineligible: int = 0
    skipped_budget: int = 0
    skipped_no_key: int = 0
    unavailable: int = 0
    errors: int = 0
    credits: float = 0.0
    usd: float = 0.0
    rate_limited: int = 0
    #: Requests booked ``unknown`` (sent, no usable answer), and the credits they may have cost on top of
    #: ``credits`` (their worst cases, less those settled as billed once).
    unknown: int = 0
    uncertain_credits: float = 0.0
    #: Earlier ``unknown`` requests this run's answers settled; kept answers read again (a parser fix).
    settled_unknown: int = 0
    kept_answers_read: int = 0


@dataclass
class WaterfallStats:
    leads: int = 0
    suppressed: int = 0
    stopped_early: int = 0
    providers: dict[str, ProviderStats] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.providers.values())

    @property
    def credits(self) -> float:
        return sum(p.credits for p in self.providers.values())

    @property
    def unknown(self) -> int:
        return sum(p.unknown for p in self.providers.values())

    @property
    def uncertain_credits(self) -> float:
        return sum(p.uncertain_credits for p in self.providers.values())

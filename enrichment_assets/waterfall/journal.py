"""The run's side of the request journal: every attempt is in the store before it is sent.

The vendor clients call :class:`StoreJournal` synchronously: ``sent`` writes the attempt (with its worst
case, so a crash leaves an ``unknown`` row that says what it may have cost), ``finished`` books an attempt
that ended without an answer (it cost nothing). An attempt that brought an answer is booked with the answer
itself, in one transaction (``waterfall/settlement.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.storage.response_store import AttemptRow, ResponseStore
from enrichment_assets.vendors.base import Attempt
from enrichment_assets.waterfall.pricing import worst_case_credits
from enrichment_assets.waterfall.results import WaterfallStats

#: ``(provider, request fingerprint) -> record ids`` of the leads waiting for that request.
RecordIds = Callable[[str, str], list[str]]


@dataclass(frozen=True, slots=True)
class RunBooks:
    """Where one run books its requests: the store, under the run's and the list's ids, priced by its config."""

    store: ResponseStore
    run_id: str
    list_id: str
    config: EnrichmentConfig
    stats: WaterfallStats

    def attempt_row(self, attempt: Attempt, outcome: LedgerOutcome, credits: float, basis: str) -> AttemptRow:
        """The journal row of a finished attempt (its record ids were written when it was sent)."""
        usd = credits * self.config.provider(attempt.provider).usd_per_credit
        return AttemptRow(
            attempt_id=attempt.attempt_id, run_id=self.run_id, list_id=self.list_id, provider=attempt.provider,
            endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints), record_ids=[],
            sent_at=attempt.sent_at, finished_at=attempt.finished_at or datetime.now(UTC),
            http_status=attempt.http_status, outcome=outcome, credits=credits, credit_basis=basis, usd=usd,
            worst_case_credits=None, error=attempt.error,
        )


class StoreJournal:
    """Writes each attempt to the store before it is sent (the crash-safety half of the ledger)."""

    def __init__(self, books: RunBooks, record_ids: RecordIds) -> None:
        self._books = books
        self._record_ids = record_ids

    def sent(self, attempt: Attempt) -> None:
        books = self._books
        record_ids: list[str] = []
        for fp in attempt.request_fingerprints:
            record_ids.extend(self._record_ids(attempt.provider, fp))
        books.store.record_sent(AttemptRow(
            attempt_id=attempt.attempt_id, run_id=books.run_id, list_id=books.list_id, provider=attempt.provider,
            endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints),
            record_ids=sorted(set(record_ids)), sent_at=attempt.sent_at, finished_at=None, http_status=None,
            outcome=None, credits=None, credit_basis=None, usd=None,
            worst_case_credits=worst_case_credits(attempt.provider, books.config.provider(attempt.provider),
                                                  max(1, len(attempt.request_fingerprints))),
            error=None,
        ))
        books.stats.providers[attempt.provider].calls += 1

    def finished(self, attempt: Attempt) -> None:
        if attempt.outcome is LedgerOutcome.RATE_LIMITED:
            self._books.stats.providers[attempt.provider].rate_limited += 1
        if attempt.outcome is None:
            return  # an answer: settled with its response, in one transaction
        # Failed attempts cost nothing; record them now so a crash later does not leave them "unknown".
        self._books.store.record_outcome([self._books.attempt_row(attempt, attempt.outcome, 0.0, "price_rule")], [])

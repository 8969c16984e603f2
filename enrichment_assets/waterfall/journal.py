"""The run's side of the request journal: every attempt is in the store before it is sent.

The vendor clients await :class:`StoreJournal`: ``sent`` writes the attempt with its worst case and the lease
of this process (so a crash leaves a row that says what it may have cost, and whose owner is gone),
``finished`` books an attempt that ended without an answer and keeps a 2xx body exactly as it arrived, before
anything reads it. An attempt that brought an answer is booked with the read answer itself, in one
transaction (``waterfall/settlement.py``). The store's I/O runs off the event loop (``storage/store_io.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.storage.response_store import AttemptRow
from enrichment_assets.storage.store_io import StoreIO
from enrichment_assets.vendors.base import Attempt
from enrichment_assets.waterfall.results import WaterfallStats

#: ``(provider, request fingerprint) -> record ids`` of the leads waiting for that request.
RecordIds = Callable[[str, str], list[str]]
#: ``(provider, identifiers) -> the most one request for that many lookups may cost``.
WorstCase = Callable[[str, int], float]


@dataclass(frozen=True, slots=True)
class RunBooks:
    """Where one run books its requests: the store (through ``io``), under the run's, the list's and the
    process lease's ids, priced by its config."""

    io: StoreIO
    run_id: str
    list_id: str
    owner_id: str | None
    config: EnrichmentConfig
    stats: WaterfallStats

    def attempt_row(self, attempt: Attempt, outcome: LedgerOutcome | None, credits: float | None,
                    basis: str | None, error: str | None = None) -> AttemptRow:
        """The journal row of a finished attempt (its record ids and worst case were written when it was sent)."""
        usd = None if credits is None else credits * self.config.provider(attempt.provider).usd_per_credit
        return AttemptRow(
            attempt_id=attempt.attempt_id, run_id=self.run_id, list_id=self.list_id, provider=attempt.provider,
            endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints), record_ids=[],
            sent_at=attempt.sent_at, finished_at=attempt.finished_at or datetime.now(UTC),
            http_status=attempt.http_status, outcome=outcome, credits=credits, credit_basis=basis, usd=usd,
            worst_case_credits=None, error=error if error is not None else attempt.error, owner_id=self.owner_id,
        )


class StoreJournal:
    """Writes each attempt to the store before it is sent (the crash-safety half of the ledger)."""

    def __init__(self, books: RunBooks, record_ids: RecordIds, worst_case: WorstCase) -> None:
        self._books = books
        self._record_ids = record_ids
        self._worst_case = worst_case

    async def sent(self, attempt: Attempt) -> None:
        books = self._books
        record_ids: list[str] = []
        for fp in attempt.request_fingerprints:
            record_ids.extend(self._record_ids(attempt.provider, fp))
        await books.io.write(books.io.store.record_sent, AttemptRow(
            attempt_id=attempt.attempt_id, run_id=books.run_id, list_id=books.list_id, provider=attempt.provider,
            endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints),
            record_ids=sorted(set(record_ids)), sent_at=attempt.sent_at, finished_at=None, http_status=None,
            outcome=None, credits=None, credit_basis=None, usd=None,
            worst_case_credits=self._worst_case(attempt.provider, max(1, len(attempt.request_fingerprints))),
            error=None, owner_id=books.owner_id,
        ))
        books.stats.providers[attempt.provider].calls += 1

    async def finished(self, attempt: Attempt) -> None:
        books = self._books
        stats = books.stats.providers[attempt.provider]
        if attempt.outcome is LedgerOutcome.RATE_LIMITED:
            stats.rate_limited += 1
        if attempt.outcome is None:
            # An answer to read: its body is kept as received now; the reading books it (settlement).
            row = books.attempt_row(attempt, None, None, None)
        elif attempt.outcome is LedgerOutcome.UNKNOWN:
            # Sent and no usable answer: 0 certain credits, the worst case written when it was sent stands.
            stats.unknown += 1
            row = books.attempt_row(attempt, LedgerOutcome.UNKNOWN, 0.0, "unknown")
        else:
            # Never sent, rate limited, or an error the vendor does not bill: it cost nothing.
            row = books.attempt_row(attempt, attempt.outcome, 0.0, "price_rule")
        await books.io.write(books.io.store.record_finished, row, attempt.answer)

"""Settling an answer: its stored response and its ledger row, durably and in one transaction.

A paid answer (found or not found) is stored so that the same request is never bought again, and its
request's journal row gets the outcome and the credits: what the vendor reported, else the price rule. The same
transaction settles the earlier ``unknown`` requests that asked the same question (``settled_by``): as billed
once where the vendor bills a repeated question once, else as asked again (their worst case stands).

A paid answer the client cannot read is booked ``unknown`` (0 certain credits, its worst case) and stays in
``kept_answers`` as it arrived; a later run reads it again (after a parser fix) and books the request with what
it says (``read_later``) instead of buying it again. Attempts that ended without an answer were booked by the
journal when they ended (``waterfall/journal.py``).

Each write is tried a few times; when the store still refuses it, the lookup ends as an error (the lead is
pending) and the answer, kept as it arrived, is read by the next run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from enrichment_assets.outcomes import CallStatus, LedgerOutcome, UnknownSettlement
from enrichment_assets.storage.response_store import AttemptRow, KeptAnswer, StoredResponse
from enrichment_assets.vendors.base import Attempt, VendorResult
from enrichment_assets.waterfall.journal import RunBooks, WorstCase
from enrichment_assets.waterfall.pricing import LookupCharge, rule_credits

logger = logging.getLogger("enrichment_assets.waterfall")

#: Waits before the 2nd, 3rd, ... try of a settlement write the store refused.
WRITE_RETRY_WAITS = (0.2, 1.0, 3.0)


class SettlementFailed(RuntimeError):
    """The store refused to record an answer, every try: the answer stays kept as it arrived."""


def unrecorded(result: VendorResult, exc: Exception) -> VendorResult:
    """A lookup whose answer the store did not take: the lead is pending, the answer kept as it arrived (the
    journal has it) for the next run to read."""
    if not (result.status.answered or result.unread):
        return result
    return dataclasses.replace(result, status=CallStatus.ERROR, phones=[], unread=True,
                               error=f"answer not recorded: {exc}")


@dataclass(frozen=True, slots=True)
class Booked:
    """What one lookup cost this run: ``credits`` for certain, and ``uncertain`` more at most (unknown requests)."""

    credits: float = 0.0
    uncertain: float = 0.0

    @property
    def at_most(self) -> float:
        return self.credits + self.uncertain


class Settlement:
    def __init__(self, books: RunBooks, now: Callable[[], datetime], worst_case: WorstCase,
                 repeats_billed_once: Mapping[str, bool], parser_versions: Mapping[str, int]) -> None:
        self._books = books
        self._now = now
        self._worst_case = worst_case
        self._billed_once = repeats_billed_once
        self._parser = parser_versions

    # ------------------------------------------------------------------ one lookup

    async def settle(self, provider: str, fp: str, result: VendorResult, *, batched: bool) -> Booked:
        """Store one lookup's answer and ledger row; return what it cost this run.

        ``batched``: the lookup went out in a batch, which ``settle_batch`` has already stored; this only
        returns the lookup's share of the batch's charge.
        """
        config = self._books.config.provider(provider)
        stats = self._books.stats.providers[provider]
        if batched:
            return self._batch_share(provider, config, result)
        earlier = self._uncertain(provider, [a for a in result.attempts[:-1] if a.outcome is LedgerOutcome.UNKNOWN])
        final = result.attempts[-1] if result.attempts else None
        if result.status is CallStatus.UNKNOWN:  # every attempt was booked by the journal when it ended
            uncertain = self._uncertain(provider, [a for a in result.attempts if a.outcome is LedgerOutcome.UNKNOWN])
            stats.uncertain_credits += uncertain
            return Booked(0.0, uncertain)
        # A definitive "not found" may come as an HTTP error (Enrich Layer's 404): it is an answer all the same,
        # stored so that a rerun does not ask again.
        paid = result.status.answered
        if final is None or final.http_status is None or not (200 <= final.http_status < 300 or paid):
            if result.status is CallStatus.ERROR:
                stats.errors += 1
            elif result.status.stops_provider:
                stats.unavailable += 1
            stats.uncertain_credits += earlier
            return Booked(0.0, earlier)
        if result.unread:
            # Paid, and unreadable: unknown at its worst case, the body kept for a later reading.
            stats.errors += 1
            stats.unknown += 1
            row = self._books.attempt_row(final, LedgerOutcome.UNKNOWN, 0.0, "unknown", result.error)
            await self._write([row], [], read=[(final.attempt_id, self._parser[provider], result.error)])
            uncertain = earlier + self._uncertain(provider, [final])
            stats.uncertain_credits += uncertain
            return Booked(0.0, uncertain)
        if not paid:
            stats.errors += 1
        if final.vendor_credits is not None:
            credits, basis = float(final.vendor_credits), "vendor_reported"
        elif paid:
            numbers = result.numbers_billed if result.numbers_billed is not None else len(result.phones)
            charge = LookupCharge(numbers=numbers, emails=result.emails_found,
                                  personal_emails=result.personal_emails_found)
            credits, basis = rule_credits(config, [charge]), "price_rule"
        else:
            credits, basis = 0.0, "price_rule"
        responses = [self.stored(fp, result, final.attempt_id, self._parser[provider])] if paid else []
        await self._write([self._books.attempt_row(final, result.status.ledger_outcome, credits, basis)], responses,
                          read=[(final.attempt_id, self._parser[provider], None)] if final.answer else [],
                          settle_as=self._settle_as(provider), own=[final.attempt_id])
        if self._billed_once.get(provider):
            earlier = 0.0  # the vendor billed this question once: that charge is the answer's
        stats.credits += credits
        stats.usd += credits * config.usd_per_credit
        stats.uncertain_credits += earlier
        return Booked(credits, earlier)

    def _uncertain(self, provider: str, unknown: list[Attempt]) -> float:
        """The most a lookup's unknown attempts may have cost on top of its certain credits."""
        if not unknown:
            return 0.0
        worst = [self._worst_case(provider, max(1, len(a.request_fingerprints))) for a in unknown]
        # A vendor that bills a repeated question once billed the lookup's unknown attempts once at most.
        return max(worst) if self._billed_once.get(provider) else sum(worst)

    def _settle_as(self, provider: str) -> UnknownSettlement:
        return UnknownSettlement.BILLED_ONCE if self._billed_once.get(provider) else UnknownSettlement.ASKED_AGAIN

    def _batch_share(self, provider: str, config: Any, result: VendorResult) -> Booked:
        worst_one = self._worst_case(provider, 1)
        if result.status is CallStatus.UNKNOWN or result.unread:
            return Booked(0.0, worst_one)
        if result.status.answered and result.attempts:
            return Booked(rule_credits(config, [LookupCharge(numbers=len(result.phones), matched=result.matched)]),
                          0.0)
        return Booked()

    # ------------------------------------------------------------------ a batch

    async def settle_batch(self, provider: str, fps: list[str], results: list[VendorResult]) -> None:
        """Store a whole batch (its responses and ledger rows) in one transaction.

        The client may split one batch into several HTTP requests (Crustdata never mixes identifier kinds), so
        each request is settled with its own identifiers and charge.
        """
        config = self._books.config.provider(provider)
        stats = self._books.stats.providers[provider]
        requests: dict[str, tuple[Attempt, list[tuple[str, VendorResult]]]] = {}
        for fp, result in zip(fps, results, strict=True):
            if result.attempts:
                final = result.attempts[-1]
                requests.setdefault(final.attempt_id, (final, []))[1].append((fp, result))
        attempt_rows: list[AttemptRow] = []
        responses: list[StoredResponse] = []
        read: list[tuple[str, int, str | None]] = []
        for final, members in requests.values():
            if final.outcome is not None or final.http_status is None or not 200 <= final.http_status < 300:
                continue  # booked by the journal when it ended (an error, or unknown)
            # An identifier repeated in a request is sent and charged once.
            unique = {fp: r for fp, r in members if r.status.answered}
            unread = [r for _, r in members if r.unread]
            row, credits = self._batch_row(config, final, unique, unread)
            attempt_rows.append(row)
            responses.extend(self.stored(fp, r, final.attempt_id, self._parser[provider]) for fp, r in unique.items())
            read.append((final.attempt_id, self._parser[provider], unread[0].error if unread else None))
            stats.credits += credits
            stats.usd += credits * config.usd_per_credit
            if unread:
                stats.unknown += 1
        if attempt_rows:
            await self._write(attempt_rows, responses, read=read, settle_as=self._settle_as(provider),
                              own=[r.attempt_id for r in attempt_rows])

    def _batch_row(self, config: Any, final: Attempt, answered: dict[str, VendorResult],
                   unread: list[VendorResult]) -> tuple[AttemptRow, float]:
        """A batch request's ledger row: its certain credits; ``unknown`` while part of its answer is unread."""
        if final.vendor_credits is not None:
            credits, basis = float(final.vendor_credits), "vendor_reported"
        else:
            credits = rule_credits(config, [LookupCharge(numbers=len(r.phones), matched=r.matched)
                                            for r in answered.values()])
            basis = "price_rule"
        if unread:
            outcome, error = LedgerOutcome.UNKNOWN, f"{len(unread)} identifier(s) unread: {unread[0].error}"
        elif any(r.status is CallStatus.FOUND for r in answered.values()):
            outcome, error = LedgerOutcome.FOUND, None
        elif answered:
            outcome, error = LedgerOutcome.NOT_FOUND, None
        else:
            outcome, error = LedgerOutcome.ERROR, None
        return self._books.attempt_row(final, outcome, credits, basis, error), credits

    # ------------------------------------------------------------------ kept answers read again

    async def settle_kept(self, provider: str, kept: KeptAnswer, results: list[VendorResult]) -> None:
        """A kept answer read again with today's parser: its request booked with what it says (``read_later``),
        its questions stored (with the age of the answer, not of the reading)."""
        config = self._books.config.provider(provider)
        stats = self._books.stats.providers[provider]
        answered = {fp: r for fp, r in zip(kept.request_fingerprints, results, strict=True) if r.status.answered}
        unread = [r for r in results if r.unread]
        if not answered:
            return
        original = await self._books.io.read(self._books.io.store.attempt, kept.attempt_id)
        if original is None:
            return
        attempt = Attempt(attempt_id=original.attempt_id, provider=provider, endpoint=original.endpoint,
                          request_fingerprints=original.request_fingerprints, sent_at=original.sent_at,
                          finished_at=original.finished_at, http_status=kept.answer.http_status)
        vendor = [r.vendor_credits for r in answered.values() if r.vendor_credits is not None]
        if vendor and len(kept.request_fingerprints) == 1:
            attempt.vendor_credits = vendor[0]
        if len(kept.request_fingerprints) == 1:
            (result,) = answered.values()
            if attempt.vendor_credits is not None:
                credits, basis = float(attempt.vendor_credits), "vendor_reported"
            else:
                numbers = result.numbers_billed if result.numbers_billed is not None else len(result.phones)
                credits = rule_credits(config, [LookupCharge(numbers=numbers, emails=result.emails_found,
                                                             personal_emails=result.personal_emails_found)])
                basis = "price_rule"
            row = self._books.attempt_row(attempt, result.status.ledger_outcome, credits, basis)
        else:
            row, _ = self._batch_row(config, attempt, answered, unread)
        # The row stays the original run's: only its outcome, amounts and error change, settled by itself.
        row.run_id, row.list_id = original.run_id, original.list_id
        responses = [StoredResponse(
            request_fingerprint=fp, provider=provider, status=r.status.value,
            phones=[(p.number, p.claimed_type) for p in r.phones], raw=r.raw, http_status=r.http_status,
            vendor_credits=r.vendor_credits, matched=r.matched, received_at=kept.received_at,
            attempt_id=kept.attempt_id, parser_version=self._parser[provider]) for fp, r in answered.items()]
        await self._write([row], responses, read=[(kept.attempt_id, self._parser[provider],
                                                    unread[0].error if unread else None)],
                          settle_as=self._settle_as(provider), own=[kept.attempt_id],
                          read_later=[] if unread else [kept.attempt_id])
        stats.kept_answers_read += 1

    # ------------------------------------------------------------------ the store

    async def _write(self, attempts: list[AttemptRow], responses: list[StoredResponse], *,
                     read: list[tuple[str, int, str | None]], settle_as: UnknownSettlement | None = None,
                     own: list[str] | None = None, read_later: list[str] | None = None) -> None:
        store = self._books.io.store
        for wait in (*WRITE_RETRY_WAITS, None):
            try:
                settled = await self._books.io.write(
                    store.record_outcome, attempts, responses, answers_read=read,
                    settlement=settle_as.value if settle_as else None, settled_at=self._now(),
                    same_answer_ids=own or [], read_later_ids=read_later or [])
            except Exception as exc:
                if wait is None:
                    raise SettlementFailed(f"the answer arrived but could not be recorded ({exc}); it is kept as "
                                           "received and read by the next run") from exc
                logger.warning("could not record an answer (%s); trying again in %gs", exc, wait)
                await asyncio.sleep(wait)
            else:
                if attempts:
                    self._books.stats.providers[attempts[0].provider].settled_unknown += len(settled.by)
                return

    def stored(self, fp: str, result: VendorResult, attempt_id: str | None = None,
               parser_version: int | None = None) -> StoredResponse:
        return StoredResponse(
            request_fingerprint=fp, provider=result.provider, status=result.status.value,
            phones=[(p.number, p.claimed_type) for p in result.phones], raw=result.raw,
            http_status=result.http_status, vendor_credits=result.vendor_credits, matched=result.matched,
            received_at=self._now(), attempt_id=attempt_id, parser_version=parser_version,
        )

"""Settling an answer: its stored response and its ledger row, durably and in one transaction.

A paid answer (found or not found) is stored so that the same request is never bought again, and its
request's journal row gets the outcome and the credits: what the vendor reported, else the price rule.
Attempts that ended without an answer were booked by the journal when they ended (``waterfall/journal.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from enrichment_assets.outcomes import CallStatus, LedgerOutcome
from enrichment_assets.storage.response_store import AttemptRow, StoredResponse
from enrichment_assets.vendors.base import Attempt, VendorResult
from enrichment_assets.waterfall.journal import RunBooks
from enrichment_assets.waterfall.pricing import LookupCharge, rule_credits


class Settlement:
    def __init__(self, books: RunBooks, now: Callable[[], datetime]) -> None:
        self._books = books
        self._now = now

    def settle(self, provider: str, fp: str, result: VendorResult, *, batched: bool) -> float:
        """Store one lookup's answer and ledger row; return the credits attributed to it.

        ``batched``: the lookup went out in a batch, which ``settle_batch`` has already stored; this only
        returns the lookup's share of the batch's charge.
        """
        config = self._books.config.provider(provider)
        stats = self._books.stats.providers[provider]
        final = result.attempts[-1] if result.attempts else None
        # A definitive "not found" may come as an HTTP error (Enrich Layer's 404): it is an answer all the same,
        # stored so that a rerun does not ask again.
        paid = result.status.answered
        if final is None or final.http_status is None or not (200 <= final.http_status < 300 or paid):
            if result.status is CallStatus.ERROR:
                stats.errors += 1
            elif result.status.stops_provider:
                stats.unavailable += 1
            return 0.0
        if not paid:
            stats.errors += 1
        if batched:
            return rule_credits(config, [LookupCharge(numbers=len(result.phones), matched=result.matched)]) \
                if paid else 0.0
        if final.vendor_credits is not None:
            credits, basis = float(final.vendor_credits), "vendor_reported"
        elif paid:
            charge = LookupCharge(numbers=len(result.phones), emails=result.emails_found,
                                  personal_emails=result.personal_emails_found)
            credits, basis = rule_credits(config, [charge]), "price_rule"
        else:
            credits, basis = 0.0, "price_rule"
        responses = [self.stored(fp, result)] if paid else []
        self._books.store.record_outcome([self._books.attempt_row(final, result.status.ledger_outcome, credits, basis)],
                                         responses)
        stats.credits += credits
        stats.usd += credits * config.usd_per_credit
        return credits

    def settle_batch(self, provider: str, fps: list[str], results: list[VendorResult]) -> None:
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
        for final, members in requests.values():
            if final.http_status is None or not 200 <= final.http_status < 300:
                continue  # failed attempts were recorded by the journal; nothing was charged
            # An identifier repeated in a request is sent and charged once.
            unique = {fp: r for fp, r in members if r.status.answered}
            if final.vendor_credits is not None:
                credits, basis = float(final.vendor_credits), "vendor_reported"
            else:
                credits = rule_credits(config, [LookupCharge(numbers=len(r.phones), matched=r.matched)
                                                for r in unique.values()])
                basis = "price_rule"
            if any(r.status is CallStatus.FOUND for r in unique.values()):
                outcome = LedgerOutcome.FOUND
            elif unique:
                outcome = LedgerOutcome.NOT_FOUND
            else:
                outcome = LedgerOutcome.ERROR
            attempt_rows.append(self._books.attempt_row(final, outcome, credits, basis))
            responses.extend(self.stored(fp, r) for fp, r in unique.items())
            stats.credits += credits
            stats.usd += credits * config.usd_per_credit
        if attempt_rows:
            self._books.store.record_outcome(attempt_rows, responses)

    def stored(self, fp: str, result: VendorResult) -> StoredResponse:
        return StoredResponse(
            request_fingerprint=fp, provider=result.provider, status=result.status.value,
            phones=[(p.number, p.claimed_type) for p in result.phones], raw=result.raw,
            http_status=result.http_status, vendor_credits=result.vendor_credits, matched=result.matched,
            received_at=self._now(),
        )

"""Credits: what a call costs by the config's pricing rule, its worst case, and the per-run budget."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.crustdata import priced_fields
from enrichment_assets.vendors.registry import provider_spec


@dataclass(frozen=True, slots=True)
class LookupCharge:
    """What one lookup returned, as far as pricing cares."""

    numbers: int
    matched: bool | None = None  # Crustdata: the identifier matched a person
    emails: int = 0  # Pronto: work emails returned
    personal_emails: int = 0


def field_credits(config: ProviderConfig) -> float:
    """What the requested ``fields`` add to each matched identifier (Crustdata: ``contact`` is all its parts)."""
    if not config.fields:
        return 0.0
    per_field = config.pricing.per_field
    return sum(per_field.get(name, 0.0) for name in priced_fields(config.fields))


def rule_credits(config: ProviderConfig, lookups: Sequence[LookupCharge]) -> float:
    """Credits for one successful HTTP request answering ``lookups`` (one, or a Crustdata batch)."""
    p = config.pricing
    credits = p.per_call
    for lookup in lookups:
        if lookup.numbers > 0:
            credits += p.per_found
        credits += p.per_number * lookup.numbers
        credits += p.per_email * lookup.emails + p.per_personal_email * lookup.personal_emails
        if lookup.matched:
            per_match = p.per_match + field_credits(config)
            credits += min(per_match, p.max_per_match) if p.max_per_match is not None else per_match
    return credits


def worst_case_credits(provider: str, config: ProviderConfig, identifiers: int = 1,
                       reported: float | None = None) -> float:
    """The most one request for ``identifiers`` lookups could cost: reserved against the budget before sending.

    The price rule's worst case, or the most the vendor has ever reported for one such call (``reported``)
    when that is more: a vendor whose prices rose is not under-reserved twice.
    """
    p = config.pricing
    # A page_size (only a provider that caps its numbers per call takes one) bounds the numbers; 0 means all.
    max_numbers = config.page_size or provider_spec(provider).max_numbers
    per_match = p.per_match + field_credits(config)
    if p.max_per_match is not None:
        per_match = min(per_match, p.max_per_match)
    # An email is priced whenever one comes back, asked for or not (settlement counts what the answer holds).
    per_lookup = p.per_found + p.per_number * max_numbers + per_match + p.per_email + p.per_personal_email
    rule = p.per_call + per_lookup * identifiers
    return max(rule, reported) if reported is not None else rule


@dataclass
class Budget:
    """Per-run credit cap for one provider: reserve the worst case before a call, settle after.

    A call that does not fit while other calls hold reservations waits for them to settle (most cost less
    than their worst case); it is refused only when it could not fit even with every hold released.
    """

    limit: float | None
    spent: float = 0.0
    reserved: float = 0.0
    refused: int = 0
    _holds: dict[str, float] = field(default_factory=dict)
    _changed: asyncio.Event | None = None

    def _fits(self, amount: float, *, with_holds: bool) -> bool:
        if self.limit is None:
            return True
        return self.spent + (self.reserved if with_holds else 0.0) + amount <= self.limit + 1e-9

    async def reserve(self, key: str, amount: float) -> bool:
        """Reserve, waiting for other holds to settle while they might leave room; False once they cannot."""
        while not self._fits(amount, with_holds=True):
            if not self._fits(amount, with_holds=False) or not self._holds:
                self.refused += 1
                return False
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        self._hold(key, amount)
        return True

    def _hold(self, key: str, amount: float) -> None:
        self.reserved += amount
        self._holds[key] = self._holds.get(key, 0.0) + amount

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def settle(self, key: str, actual: float) -> None:
        self.reserved -= self._holds.pop(key, 0.0)
        self.spent += actual
        self._notify()

    def release(self, key: str) -> None:
        self.reserved -= self._holds.pop(key, 0.0)
        self._notify()

"""The hit-rate model: per provider and lead segment, how likely a call finds a number and a personal mobile,
and what it costs, learned from this project's own results and shrunk toward priors where data is thin.

Every figure is per lead that *reached* the provider and was asked (found or not found, a stored answer
included): in a waterfall a provider is asked only after the providers before it missed, so its rates are
conditional on their misses. The model assumes that miss-conditional rate holds whatever came before, which
is what lets an adaptive order move a provider forward.

Shrinkage is a beta-binomial ladder, each level lending ``prior_weight`` pseudo-leads to the one below:
config prior -> provider overall -> provider in the country -> provider in the segment (country and
identifiers). A level's rate is ``(hits + w * parent_rate) / (leads + w)``, the parent's rate taken without
the level's own leads (the same leads must not vouch for themselves twice): a segment with a few dozen leads
moves only part of the way from its country's rate, a segment with no data *is* its country's rate, a country
with none is the provider's overall rate, and a provider never seen is its prior. Credits per call shrink the
same way over paid calls. USD is credits times the provider's ``usd_per_credit`` of the config in force.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.cost_model.segments import Segment
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall.pricing import field_credits

#: z of the forecast's range: 1.645 gives a 90% interval per figure.
RANGE_Z = 1.645
#: Numbers a call that found something is assumed to return, for a prior priced per number.
_PRIOR_NUMBERS_PER_FIND = 1.5


@dataclass(frozen=True, slots=True)
class Counts:
    """What the tables hold for one provider (in one segment, country, or overall)."""

    leads: int = 0  # asked: found or not found, stored answers included
    found: int = 0
    mobiles: int = 0  # leads whose personal mobile this provider returned
    paid_calls: int = 0  # answered by a call, not from the store
    credits: float = 0.0  # what those calls cost

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.leads + other.leads, self.found + other.found, self.mobiles + other.mobiles,
                      self.paid_calls + other.paid_calls, self.credits + other.credits)

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.leads - other.leads, self.found - other.found, self.mobiles - other.mobiles,
                      self.paid_calls - other.paid_calls, self.credits - other.credits)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The model's figures for one provider and one segment."""

    provider: str
    found_rate: float
    mobile_rate: float
    credits_per_call: float
    usd_per_credit: float
    #: Leads of this very segment behind the figures (0: borrowed from the country, provider or prior).
    leads: int
    #: The most specific level with data of its own: ``segment``, ``country``, ``provider`` or ``prior``.
    level: str
    #: Pseudo-leads of evidence behind the rates (own leads + what the parents lent): their standard errors.
    evidence: float

    @property
    def usd_per_call(self) -> float:
        return self.credits_per_call * self.usd_per_credit

    @property
    def credits_per_mobile(self) -> float:
        return self.credits_per_call / self.mobile_rate if self.mobile_rate > 0 else math.inf

    @property
    def usd_per_mobile(self) -> float:
        return self.usd_per_call / self.mobile_rate if self.mobile_rate > 0 else math.inf

    def rate_sd(self, rate: float) -> float:
        """Standard error of a rate of this estimate (a beta posterior's)."""
        return math.sqrt(max(rate * (1 - rate), 0.0) / (self.evidence + 1))

    def stop_rate(self, stop_when: str) -> float:
        """The chance a call of this provider ends the lead's walk under ``stop_when``."""
        return {"mobile": self.mobile_rate, "any_phone": self.found_rate}.get(stop_when, 0.0)

    def bounds(self, stop_when: str, z: float = RANGE_Z) -> tuple[tuple[float, float], tuple[float, float]]:
        """((stop rate, USD per call) when luck is good, (the same) when it is bad), ``z`` standard errors out.

        Bad luck: the walk stops less often and calls cost more (for providers priced per find, cost follows the
        found rate); good luck the other way round.
        """
        stop = self.stop_rate(stop_when)
        stop_sd = self.rate_sd(stop)
        found_sd = self.rate_sd(self.found_rate)
        spread = min(1.0, z * found_sd / self.found_rate) if self.found_rate > 0 else 0.0
        good = (min(1.0, stop + z * stop_sd), self.usd_per_call * (1 - spread))
        bad = (max(0.0, stop - z * stop_sd), self.usd_per_call * (1 + spread))
        return good, bad


def prior_credits_per_call(config: EnrichmentConfig, provider: str, found_rate: float) -> float:
    """What the provider's pricing rule charges per call on average at ``found_rate`` (a cold-start guess)."""
    p = config.provider(provider)
    prior = config.cost_model.prior(provider)
    if prior.credits_per_call is not None:
        return prior.credits_per_call
    pricing = p.pricing
    numbers = min(_PRIOR_NUMBERS_PER_FIND, p.page_size or provider_spec(provider).max_numbers)
    per_match = pricing.per_match + field_credits(p)
    if pricing.max_per_match is not None:
        per_match = min(per_match, pricing.max_per_match)
    types = set(p.enrichment_type or [])
    emails = pricing.per_email * ("email" in types)
    return pricing.per_call + found_rate * (pricing.per_found + pricing.per_number * numbers + per_match + emails)


@dataclass
class _Level:
    found_rate: float
    mobile_rate: float
    credits_per_call: float
    evidence: float
    level: str


@dataclass
class HitRateModel:
    """Estimates for every (provider, segment), from the counts per provider and segment and the config."""

    config: EnrichmentConfig
    counts: Mapping[tuple[str, Segment], Counts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._weight = self.config.cost_model.prior_weight
        self._provider_counts: dict[str, Counts] = {}
        self._country_counts: dict[tuple[str, str], Counts] = {}
        for (provider, segment), c in self.counts.items():
            self._provider_counts[provider] = self._provider_counts.get(provider, Counts()) + c
            key = (provider, segment.country)
            self._country_counts[key] = self._country_counts.get(key, Counts()) + c
        self._cache: dict[tuple[str, Segment], Estimate] = {}

    # ------------------------------------------------------------------ ladder

    def _prior(self, provider: str) -> _Level:
        prior = self.config.cost_model.prior(provider)
        return _Level(prior.found_rate, prior.mobile_rate,
                      prior_credits_per_call(self.config, provider, prior.found_rate), self._weight, "prior")

    def _shrink(self, parent: _Level, counts: Counts | None, level: str) -> _Level:
        if counts is None or counts.leads == 0:
            # Borrowed whole, but known only as well as a level with w leads of its own would be.
            return _Level(parent.found_rate, parent.mobile_rate, parent.credits_per_call,
                          min(self._weight, parent.evidence), parent.level)
        w = self._weight
        credits = ((counts.credits + w * parent.credits_per_call) / (counts.paid_calls + w)
                   if counts.paid_calls else parent.credits_per_call)
        return _Level(
            found_rate=(counts.found + w * parent.found_rate) / (counts.leads + w),
            mobile_rate=(counts.mobiles + w * parent.mobile_rate) / (counts.leads + w),
            credits_per_call=credits,
            # What the parent knew counts for at most w leads here: a parent's thousands of leads say how the
            # provider does overall, not how it does in this segment.
            evidence=counts.leads + min(w, parent.evidence),
            level=level,
        )

    def provider_level(self, provider: str, without: Counts | None = None) -> _Level:
        """The provider's overall level (``without``: leaving those counts out, for a child's parent)."""
        counts = self._provider_counts.get(provider, Counts()) - (without or Counts())
        return self._shrink(self._prior(provider), counts, "provider")

    def country_level(self, provider: str, country: str, without: Counts | None = None) -> _Level:
        own = self._country_counts.get((provider, country), Counts())
        parent = self.provider_level(provider, without=own)
        return self._shrink(parent, own - (without or Counts()), "country")

    def estimate(self, provider: str, segment: Segment) -> Estimate:
        key = (provider, segment)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        own = self.counts.get(key)
        parent = self.country_level(provider, segment.country, without=own)
        level = self._shrink(parent, own, "segment")
        estimate = Estimate(provider=provider, found_rate=level.found_rate, mobile_rate=level.mobile_rate,
                            credits_per_call=level.credits_per_call,
                            usd_per_credit=self.config.provider(provider).usd_per_credit,
                            leads=own.leads if own else 0, level=level.level, evidence=level.evidence)
        self._cache[key] = estimate
        return estimate

    # ------------------------------------------------------------------ views

    @property
    def observed(self) -> Iterable[tuple[str, Segment]]:
        return self.counts.keys()

    def provider_counts(self, provider: str) -> Counts:
        return self._provider_counts.get(provider, Counts())

    def country_counts(self, provider: str, country: str) -> Counts:
        return self._country_counts.get((provider, country), Counts())

    @property
    def countries(self) -> list[str]:
        return sorted({country for _, country in self._country_counts})

"""What a run will cost before it calls anyone: expected calls, credits and USD per provider, a low-high range,
the expected personal mobiles, and how many leads the response store answers for free.

Each lead is walked on paper in the order the run would use (the fixed list, or the adaptive order per lead):
a provider that cannot take the lead is skipped as the engine skips it; a fresh stored answer is used as it is
(free, and it stops the walk exactly when the engine would stop); any other provider is a call with the
model's chance of ending the walk and its expected price. The chance of reaching each later provider is the
product of the misses before it, so the expected figures are exact for the model's rates.

The range adds two things: the model's own uncertainty (every rate ``RANGE_Z`` standard errors worse, or
better, at once, since one wrong rate is wrong for every lead of its segment) and the luck of the draw over
the list's leads (the variance of each lead's cost, summed over leads, ``RANGE_Z`` standard deviations out).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.cost_model.rates import RANGE_Z, HitRateModel
from enrichment_assets.cost_model.segments import segment_of
from enrichment_assets.leads.model import Lead
from enrichment_assets.phones.parse import region_hints
from enrichment_assets.storage.response_store import StoredResponse
from enrichment_assets.vendors.base import PhoneClaim, request_fingerprint
from enrichment_assets.waterfall.stop_rule import meets_stop_rule
from enrichment_assets.waterfall.suppression import Suppression

#: ``fresh(fingerprint)``: the stored answer to that request if it is younger than cache_ttl_days, else None.
FreshAnswer = Callable[[str], StoredResponse | None]


@dataclass
class ProviderForecast:
    provider: str
    calls: float = 0.0
    credits: float = 0.0
    usd: float = 0.0
    usd_low: float = 0.0
    usd_high: float = 0.0
    #: Personal mobiles expected from this provider's calls, and stored answers that already hold one.
    mobiles: float = 0.0
    #: Lookups the response store answers (no call, no charge).
    from_store: int = 0


@dataclass
class Forecast:
    """The expected figures of a run over some leads (``ProviderForecast`` per provider, in walk order)."""

    leads: int = 0
    #: Leads whose last walk still holds (their rows are kept: nothing asked at all).
    kept: int = 0
    #: Leads walked entirely from stored answers: no call, no charge.
    from_store: int = 0
    suppressed: int = 0
    providers: dict[str, ProviderForecast] = field(default_factory=dict)
    mobiles: float = 0.0
    usd_low: float = 0.0
    usd_high: float = 0.0
    order: str = "fixed"

    @property
    def free_leads(self) -> int:
        """Leads answered without any vendor call: kept ones, and those every answer of which is stored."""
        return self.kept + self.from_store

    @property
    def calls(self) -> float:
        return sum(p.calls for p in self.providers.values())

    @property
    def credits(self) -> float:
        return sum(p.credits for p in self.providers.values())

    @property
    def usd(self) -> float:
        return sum(p.usd for p in self.providers.values())

    @property
    def usd_per_mobile(self) -> float | None:
        return self.usd / self.mobiles if self.mobiles > 0 else None

    def over_budget(self, max_usd_per_run: float | None) -> str | None:
        """Why a run must be refused under ``max_usd_per_run`` (the forecast's high end above it), else None."""
        if max_usd_per_run is None or self.usd_high <= max_usd_per_run:
            return None
        return (f"the forecast for this run is ${self.usd:,.2f} (up to ${self.usd_high:,.2f}), above "
                f"max_usd_per_run ${max_usd_per_run:,.2f}: refused before any vendor call. Raise max_usd_per_run "
                "in the config, or split the list.")

    def metadata(self) -> dict[str, Any]:
        """Flat figures for a Dagster materialization (the caller adds a markdown table)."""
        return {
            "forecast_order": self.order,
            "forecast_leads": self.leads,
            "forecast_free_leads": self.free_leads,
            "forecast_calls": round(self.calls, 1),
            "forecast_credits": round(self.credits, 2),
            "forecast_usd": round(self.usd, 4),
            "forecast_usd_low": round(self.usd_low, 4),
            "forecast_usd_high": round(self.usd_high, 4),
            "forecast_mobiles": round(self.mobiles, 1),
            "forecast_usd_per_mobile": None if self.usd_per_mobile is None else round(self.usd_per_mobile, 4),
        }

    def markdown(self) -> str:
        lines = ["| provider | calls | credits | USD | USD low–high | mobiles | answered from store |",
                 "|---|---|---|---|---|---|---|"]
        for p in self.providers.values():
            lines.append(f"| {p.provider} | {p.calls:,.0f} | {p.credits:,.1f} | {p.usd:,.2f} | "
                         f"{p.usd_low:,.2f}–{p.usd_high:,.2f} | {p.mobiles:,.0f} | {p.from_store:,} |")
        lines.append(f"| **total** | {self.calls:,.0f} | {self.credits:,.1f} | {self.usd:,.2f} | "
                     f"{self.usd_low:,.2f}–{self.usd_high:,.2f} | {self.mobiles:,.0f} | "
                     f"{self.free_leads:,} leads free |")
        return "\n".join(lines)


def forecast_leads(
    leads: Iterable[Lead],
    *,
    config: EnrichmentConfig,
    model: HitRateModel,
    clients: Mapping[str, Any],
    fresh: FreshAnswer | None = None,
    order_for: Callable[[Lead], Sequence[str]] | None = None,
    call_providers: Iterable[str] | None = None,
    suppression: Suppression | None = None,
    kept: int = 0,
    z: float = RANGE_Z,
) -> Forecast:
    """Forecast the walk of ``leads`` (the ones a run would walk; ``kept`` more keep their rows for free).

    ``clients``: per provider that has one, an object with the engine's view of a vendor (``endpoint``,
    ``ineligible_reason(lead)``, ``request_identity(lead)``); no request is ever sent through it.
    """
    stop_when = config.waterfall.stop_when
    base = [p for p in config.active_order if p in clients]
    may_call = set(call_providers) if call_providers is not None else set(base)
    suppression = suppression or Suppression()
    out = Forecast(kept=kept, order="adaptive" if order_for is not None else "fixed")
    out.providers = {p: ProviderForecast(p) for p in base}
    # Per walk (mean, good luck, bad luck), the sum over leads of the expected USD; and the mean walk's variance.
    variance = 0.0
    totals = [0.0, 0.0, 0.0]
    for lead in leads:
        out.leads += 1
        if suppression.matches(lead):
            out.suppressed += 1
            continue
        segment = segment_of(lead)
        hints = region_hints(lead.country, lead.domain)
        order = base if order_for is None else [p for p in order_for(lead) if p in clients]
        reach = [1.0, 1.0, 1.0]
        steps: list[tuple[float, float]] = []  # (USD of a call, chance it ends the walk) on the mean walk
        called = False
        for provider in order:
            client = clients[provider]
            if client.ineligible_reason(lead) is not None:
                continue
            line = out.providers[provider]
            stored = None
            if fresh is not None:
                fp = request_fingerprint(provider, client.endpoint, client.request_identity(lead))
                stored = fresh(fp)
            if stored is not None:
                claims = [PhoneClaim(n, t) for n, t in stored.phones]
                line.from_store += 1
                if meets_stop_rule("mobile", claims, hints):
                    line.mobiles += reach[0]
                    out.mobiles += reach[0]
                if meets_stop_rule(stop_when, claims, hints):
                    break
                continue
            if provider not in may_call:
                continue  # a subset run: this provider is not part of it
            called = True
            e = model.estimate(provider, segment)
            stop = e.stop_rate(stop_when)
            (good_stop, good_usd), (bad_stop, bad_usd) = e.bounds(stop_when, z)
            line.calls += reach[0]
            line.credits += reach[0] * e.credits_per_call
            line.usd += reach[0] * e.usd_per_call
            line.usd_low += reach[1] * good_usd
            line.usd_high += reach[2] * bad_usd
            line.mobiles += reach[0] * e.mobile_rate
            out.mobiles += reach[0] * e.mobile_rate
            totals[0] += reach[0] * e.usd_per_call
            totals[1] += reach[1] * good_usd
            totals[2] += reach[2] * bad_usd
            steps.append((e.usd_per_call, stop))
            reach = [reach[0] * (1 - stop), reach[1] * (1 - good_stop), reach[2] * (1 - bad_stop)]
        if not called:
            out.from_store += 1
        variance += _walk_variance(steps)
    noise = z * math.sqrt(variance)
    out.usd_low = max(0.0, totals[1] - noise)
    out.usd_high = totals[2] + noise
    return out


def _walk_variance(steps: Sequence[tuple[float, float]]) -> float:
    """Variance of one lead's cost: calls in order, each costing ``c`` and ending the walk with chance ``s``."""
    mean = square = 0.0  # E[S], E[S^2] of the cost from a step on, built from the last step back
    for cost, stop in reversed(steps):
        go_on = 1 - stop
        square = cost * cost + 2 * cost * go_on * mean + go_on * square
        mean = cost + go_on * mean
    return max(0.0, square - mean * mean)


def fresh_answers(store: Any, ttl: timedelta, now: datetime) -> FreshAnswer:
    """``fresh`` over a ``ResponseStore``: its stored answer when younger than ``ttl`` at ``now``."""
    return lambda fp: store.fresh_response(fp, ttl, now)

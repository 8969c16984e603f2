"""The adaptive waterfall order (``waterfall.order: adaptive``): per lead, the providers by expected USD per
personal mobile in the lead's segment, cheapest first.

With providers that find independently of each other, asking them in increasing order of (expected cost of a
call) / (chance the call finds a mobile) is the order with the lowest expected cost until the first mobile,
and it finds the same mobiles as any other order that asks them all. Ties (every price 0, say) go to the
higher mobile rate, then to the registry's order.

A small share of leads (``exploration_share``) is walked in a random order instead, drawn from the lead's
fingerprint (the same lead always gets the same draw), so that providers the learned order puts last are
still asked often enough to measure. A provider whose expected USD per mobile in the segment is above
``max_usd_per_mobile`` is not asked for that lead at all, explored or not.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.cost_model.rates import Estimate, HitRateModel
from enrichment_assets.cost_model.segments import Segment, segment_of
from enrichment_assets.leads.model import Lead


def _draw(lead: Lead) -> float:
    key = lead.fingerprint or f"{lead.list_id}\x1f{lead.record_id}"
    digest = hashlib.blake2b(f"explore|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


class AdaptiveOrder:
    """``order_for(lead)`` for the engine: the learned order of the lead's segment (or an exploring one)."""

    def __init__(self, model: HitRateModel, config: EnrichmentConfig, providers: Sequence[str]) -> None:
        self.model = model
        self.providers = list(providers)  # the enabled providers, in base order (ties)
        self.exploration_share = config.waterfall.exploration_share
        self.max_usd_per_mobile = config.waterfall.max_usd_per_mobile
        self._by_segment: dict[Segment, list[str]] = {}

    def _allowed(self, estimate: Estimate) -> bool:
        return self.max_usd_per_mobile is None or estimate.usd_per_mobile <= self.max_usd_per_mobile

    def segment_order(self, segment: Segment) -> list[str]:
        """The learned order for a segment: cheapest expected USD per mobile first, over-cap providers left out."""
        order = self._by_segment.get(segment)
        if order is None:
            rank = {p: i for i, p in enumerate(self.providers)}
            estimates = [self.model.estimate(p, segment) for p in self.providers]
            ranked = sorted(estimates, key=lambda e: (e.usd_per_mobile, -e.mobile_rate, rank[e.provider]))
            order = self._by_segment[segment] = [e.provider for e in ranked if self._allowed(e)]
        return order

    def order_for(self, lead: Lead) -> list[str]:
        order = self.segment_order(segment_of(lead))
        draw = _draw(lead)
        if draw < self.exploration_share:
            explored = list(order)
            random.Random(draw).shuffle(explored)
            return explored
        return list(order)

    def explores(self, lead: Lead) -> bool:
        return _draw(lead) < self.exploration_share

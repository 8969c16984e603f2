"""The adaptive order: cheapest expected USD per personal mobile first, exploration, the cap, enabled: false."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from enrichment_assets.config import parse_config
from enrichment_assets.cost_model.order import AdaptiveOrder
from enrichment_assets.cost_model.rates import Counts, HitRateModel
from enrichment_assets.cost_model.segments import Segment, segment_of
from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.registry import PROVIDER_NAMES

PRICES = {p: {"usd_per_credit": 0.01} for p in PROVIDER_NAMES}


def lead(i: int, country: str = "FR") -> Lead:
    return Lead("l", f"r{i}", "Ann", f"Lee{i}", "Acme", None, None, f"https://www.linkedin.com/in/a{i}", country,
                fingerprint=f"fp{i}")


def model_for(config_data: dict, counts: dict) -> tuple[HitRateModel, AdaptiveOrder]:
    config = parse_config(config_data)
    model = HitRateModel(config, counts)
    return model, AdaptiveOrder(model, config, config.active_order)


FR = segment_of(lead(0))
US = segment_of(lead(0, "US"))
# Per call, 1,000 leads each: in France pronto finds a mobile for 60% at 2 credits a call, leadmagic for 20% at 1.
COUNTS = {("pronto", FR): Counts(1000, 700, 600, 1000, 2000), ("leadmagic", FR): Counts(1000, 200, 200, 1000, 1000),
          ("pronto", US): Counts(1000, 250, 200, 1000, 1000), ("leadmagic", US): Counts(1000, 700, 700, 1000, 2000)}
ONLY_TWO = {"waterfall": {"order": "adaptive", "exploration_share": 0},
            "providers": {**PRICES, **{p: {"enabled": False, "usd_per_credit": 0.01}
                                       for p in ("enrichlayer", "lantern", "crustdata")}}}


def test_cheapest_usd_per_mobile_first_per_segment() -> None:
    model, order = model_for(ONLY_TWO, COUNTS)
    assert order.segment_order(FR) == ["pronto", "leadmagic"]  # 2/0.6 = 3.3 credits per mobile vs 1/0.2 = 5
    assert order.segment_order(US) == ["leadmagic", "pronto"]
    assert order.order_for(lead(1)) == ["pronto", "leadmagic"]
    e = model.estimate("pronto", FR)
    assert math.isclose(e.usd_per_mobile, e.usd_per_call / e.mobile_rate)


def test_ties_go_to_the_higher_mobile_rate_then_the_registry_order() -> None:
    free = {**ONLY_TWO, "providers": {**ONLY_TWO["providers"], "pronto": {"usd_per_credit": 0},
                                      "leadmagic": {"usd_per_credit": 0}}}
    _, order = model_for(free, COUNTS)
    assert order.segment_order(FR) == ["pronto", "leadmagic"]  # both 0 USD: the higher mobile rate first
    _, cold = model_for(free, {})
    assert cold.segment_order(FR) == ["leadmagic", "pronto"]  # same priors: registry order


def test_max_usd_per_mobile_leaves_out_dear_providers() -> None:
    capped = {**ONLY_TWO, "waterfall": {**ONLY_TWO["waterfall"], "max_usd_per_mobile": 0.04}}
    model, order = model_for(capped, COUNTS)
    assert model.estimate("leadmagic", FR).usd_per_mobile > 0.04 > model.estimate("pronto", FR).usd_per_mobile
    assert order.segment_order(FR) == ["pronto"]
    assert order.order_for(lead(2)) == ["pronto"]


def test_exploration_share_walks_that_share_in_a_random_order_deterministically() -> None:
    config = {"waterfall": {"order": "adaptive", "exploration_share": 0.2}, "providers": PRICES}
    _, order = model_for(config, {})
    learned = order.segment_order(FR)
    leads = [lead(i) for i in range(2000)]
    explored = [x for x in leads if order.explores(x)]
    assert 0.17 < len(explored) / len(leads) < 0.23
    assert sum(order.order_for(x) != learned for x in explored) > 0.9 * len(explored)  # 1 in 120 shuffles is it
    assert all(order.order_for(x) == learned for x in leads if not order.explores(x))
    assert [order.order_for(x) for x in explored[:50]] == [order.order_for(x) for x in explored[:50]]


RATES = st.tuples(st.integers(1, 500), st.floats(0, 1), st.floats(0, 1), st.floats(0, 20))


@settings(max_examples=150, deadline=None)
@given(enabled=st.lists(st.booleans(), min_size=len(PROVIDER_NAMES), max_size=len(PROVIDER_NAMES)),
       prices=st.lists(st.floats(0, 0.1), min_size=len(PROVIDER_NAMES), max_size=len(PROVIDER_NAMES)),
       data=st.dictionaries(st.sampled_from(PROVIDER_NAMES), RATES, max_size=5),
       exploration=st.floats(0, 1), country=st.sampled_from(["US", "FR", "DE", None]), i=st.integers(0, 10_000))
def test_the_order_is_a_permutation_of_the_enabled_providers(enabled, prices, data, exploration, country, i) -> None:
    config = parse_config({"waterfall": {"order": "adaptive", "exploration_share": exploration},
                           "providers": {p: {"enabled": on, "usd_per_credit": price}
                                         for p, on, price in zip(PROVIDER_NAMES, enabled, prices, strict=True)}})
    x = lead(i, country or "")
    counts = {(p, segment_of(x)): Counts(n, round(n * f), round(n * f * m), n, n * c)
              for p, (n, f, m, c) in data.items()}
    order = AdaptiveOrder(HitRateModel(config, counts), config, config.active_order)
    chosen = order.order_for(x)
    wanted = [p for p, on in zip(PROVIDER_NAMES, enabled, strict=True) if on]
    assert sorted(chosen) == sorted(wanted) and len(set(chosen)) == len(chosen)
    assert not {p for p, on in zip(PROVIDER_NAMES, enabled, strict=True) if not on} & set(chosen)


@settings(max_examples=100, deadline=None)
@given(cap=st.floats(0.001, 1), data=st.dictionaries(st.sampled_from(PROVIDER_NAMES), RATES, max_size=5),
       disabled=st.sets(st.sampled_from(PROVIDER_NAMES)), i=st.integers(0, 10_000))
def test_a_capped_order_holds_exactly_the_enabled_providers_under_the_cap(cap, data, disabled, i) -> None:
    config = parse_config({"waterfall": {"order": "adaptive", "max_usd_per_mobile": cap, "exploration_share": 0.5},
                           "providers": {p: {"enabled": p not in disabled, "usd_per_credit": 0.01}
                                         for p in PROVIDER_NAMES}})
    x = lead(i)
    counts = {(p, segment_of(x)): Counts(n, round(n * f), round(n * f * m), n, n * c)
              for p, (n, f, m, c) in data.items()}
    model = HitRateModel(config, counts)
    chosen = AdaptiveOrder(model, config, config.active_order).order_for(x)
    under = {p for p in config.active_order if model.estimate(p, Segment(x.country, "linkedin+name")).usd_per_mobile
             <= cap}
    assert set(chosen) == under and len(chosen) == len(under)

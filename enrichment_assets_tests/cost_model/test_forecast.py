"""The forecast: exact expected figures for the model's rates, stored answers free, the range, the refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.cost_model.forecast import forecast_leads
from enrichment_assets.cost_model.order import AdaptiveOrder
from enrichment_assets.cost_model.rates import Counts, HitRateModel
from enrichment_assets.cost_model.segments import segment_of
from enrichment_assets.leads.model import Lead
from enrichment_assets.storage.response_store import ResponseStore, StoredResponse
from enrichment_assets.vendors.base import request_fingerprint
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets_tests.waterfall.fakes import FakeClient

MOBILE_DE = phonenumbers.format_number(phonenumbers.example_number_for_type("DE", phonenumbers.PhoneNumberType.MOBILE),
                                       phonenumbers.PhoneNumberFormat.E164)
TWO = {"waterfall": {"order": ["leadmagic", "enrichlayer"]},
       "providers": {"leadmagic": {"usd_per_credit": 0.1}, "enrichlayer": {"usd_per_credit": 0.1},
                     **{p: {"enabled": False} for p in ("pronto", "lantern", "crustdata")}}}


def leads(n: int, email: bool = False) -> list[Lead]:
    return [Lead("l1", f"r{i}", "Ann", f"Lee{i}", "Acme", "acme.de", f"a{i}@acme.de" if email else None,
                 f"https://www.linkedin.com/in/p{i}", "DE", fingerprint=f"f{i}") for i in range(n)]


def clients(*names: str, needs: str = "linkedin_url") -> dict[str, FakeClient]:
    return {n: FakeClient(n, None, {}, needs=needs) for n in names}


def model(config, items: list[Lead]) -> HitRateModel:
    segment = segment_of(items[0])
    # leadmagic: 40% mobiles at 2 credits a call; enrichlayer: 50% at 1 credit a call; 100k leads each (sharp).
    return HitRateModel(config, {("leadmagic", segment): Counts(100_000, 40_000, 40_000, 100_000, 200_000),
                                 ("enrichlayer", segment): Counts(100_000, 50_000, 50_000, 100_000, 100_000)})


def test_expected_calls_credits_usd_and_mobiles_are_exact_for_the_rates() -> None:
    config = parse_config(TWO)
    items = leads(1000)
    m = model(config, items)
    f = forecast_leads(items, config=config, model=m, clients=clients("leadmagic", "enrichlayer"))
    lm, el = m.estimate("leadmagic", segment_of(items[0])), m.estimate("enrichlayer", segment_of(items[0]))
    assert f.providers["leadmagic"].calls == pytest.approx(1000)
    assert f.providers["enrichlayer"].calls == pytest.approx(1000 * (1 - lm.mobile_rate))
    assert f.credits == pytest.approx(1000 * lm.credits_per_call + 1000 * (1 - lm.mobile_rate) * el.credits_per_call)
    assert f.usd == pytest.approx(f.credits * 0.1)
    assert f.mobiles == pytest.approx(1000 * (lm.mobile_rate + (1 - lm.mobile_rate) * el.mobile_rate))
    assert f.usd_per_mobile == pytest.approx(f.usd / f.mobiles)
    assert f.usd_low < f.usd < f.usd_high
    assert f.from_store == 0 and f.free_leads == 0 and f.leads == 1000


def test_the_adaptive_order_is_forecast_as_walked() -> None:
    config = parse_config({**TWO, "waterfall": {"order": "adaptive", "exploration_share": 0}})
    items = leads(100)
    m = model(config, items)
    order = AdaptiveOrder(m, config, config.active_order)
    assert order.segment_order(segment_of(items[0])) == ["enrichlayer", "leadmagic"]  # 0.2 vs 0.5 credits/mobile
    f = forecast_leads(items, config=config, model=m, clients=clients("leadmagic", "enrichlayer"),
                       order_for=order.order_for)
    assert f.order == "adaptive"
    assert f.providers["enrichlayer"].calls == pytest.approx(100)
    assert f.providers["leadmagic"].calls == pytest.approx(100 * (1 - m.estimate("enrichlayer",
                                                                                    segment_of(items[0])).mobile_rate))


def test_ineligible_suppressed_and_subset_leads_cost_nothing() -> None:
    config = parse_config(TWO)
    items = leads(10)
    no_linkedin = [Lead("l1", "x1", "Bo", "Ek", "Acme", "acme.de", "bo@acme.de", None, "DE")]
    f = forecast_leads(items + no_linkedin, config=config, model=model(config, items),
                       clients=clients("leadmagic", "enrichlayer"),
                       suppression=Suppression(linkedin_urls={items[0].linkedin_url}), call_providers=["leadmagic"])
    assert f.suppressed == 1 and f.leads == 11
    assert f.providers["leadmagic"].calls == pytest.approx(9)  # the ineligible and the suppressed lead: no call
    assert f.providers["enrichlayer"].calls == 0  # not part of this (subset) run


def test_stored_answers_are_free_and_end_the_walk_as_the_engine_would(tmp_path: Path) -> None:
    config = parse_config(TWO)
    items = leads(4)
    fake = clients("leadmagic", "enrichlayer")
    now = datetime.now(UTC)
    with ResponseStore(tmp_path / "store.sqlite") as store:
        def stored(provider: str, lead: Lead, phones: list) -> StoredResponse:
            fp = request_fingerprint(provider, "/fake", fake[provider].request_identity(lead))
            return StoredResponse(fp, provider, "found" if phones else "not_found", phones, None, 200, None, None, now)

        # r0: a stored mobile at the first provider; r1: both answers stored, no mobile; r2: only the first stored.
        store.record_outcome([], [stored("leadmagic", items[0], [(MOBILE_DE, "mobile")]),
                                  stored("leadmagic", items[1], []), stored("enrichlayer", items[1], []),
                                  stored("leadmagic", items[2], [])])
        from datetime import timedelta

        from enrichment_assets.cost_model.forecast import fresh_answers

        f = forecast_leads(items, config=config, model=model(config, items), clients=fake,
                           fresh=fresh_answers(store, timedelta(days=90), now), kept=6)
    assert f.from_store == 2 and f.free_leads == 8  # r0 and r1 walked from the store, plus 6 kept leads
    assert f.providers["leadmagic"].from_store == 3 and f.providers["enrichlayer"].from_store == 1
    assert f.providers["leadmagic"].calls == pytest.approx(1)  # r3 only
    assert f.providers["enrichlayer"].calls == pytest.approx(1 + 0.6, abs=1e-3)  # r2 surely; r3 if leadmagic missed
    assert f.mobiles > 1  # r0's stored mobile, plus the expected ones


def test_refusal_over_max_usd_per_run_names_the_figures() -> None:
    config = parse_config(TWO)
    items = leads(1000)
    f = forecast_leads(items, config=config, model=model(config, items), clients=clients("leadmagic", "enrichlayer"))
    assert f.over_budget(None) is None
    assert f.over_budget(f.usd_high + 0.01) is None
    message = f.over_budget(f.usd_high - 0.01)
    assert message and "max_usd_per_run" in message and f"{f.usd:,.2f}" in message
    assert f.metadata()["forecast_usd_high"] == round(f.usd_high, 4)

"""The hit-rate model: cold start, shrinkage, and the fall-back ladder segment -> country -> provider -> prior."""

from __future__ import annotations

import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.cost_model.rates import Counts, HitRateModel, prior_credits_per_call
from enrichment_assets.cost_model.segments import Segment, identifiers_of, segment_of
from enrichment_assets.leads.model import Lead

US_LI = Segment("US", "linkedin+email+name")
US_EMAIL = Segment("US", "email+name")
FR_LI = Segment("FR", "linkedin+email+name")

CONFIG = parse_config({
    "cost_model": {"prior_weight": 50, "priors": {"leadmagic": {"found_rate": 0.4, "mobile_rate": 0.3,
                                                                "credits_per_call": 2.0}}},
    "providers": {"leadmagic": {"usd_per_credit": 0.02}},
})


def test_segments_of_leads() -> None:
    lead = Lead("l", "r", "Ann", "Lee", "Acme", None, "ann@acme.io", "https://www.linkedin.com/in/ann", "FR")
    assert segment_of(lead) == Segment("FR", "linkedin+email+name")
    assert identifiers_of(Lead("l", "r", email="a@b.io")) == "email"
    assert identifiers_of(Lead("l", "r", "Ann", "Lee", None, "acme.io")) == "name"
    assert segment_of(Lead("l", "r")) == Segment("??", "none")


def test_cold_start_is_the_prior() -> None:
    e = HitRateModel(CONFIG).estimate("leadmagic", US_LI)
    assert (e.found_rate, e.mobile_rate, e.credits_per_call) == (0.4, 0.3, 2.0)
    assert e.level == "prior" and e.leads == 0
    assert e.usd_per_call == pytest.approx(0.04)
    assert e.usd_per_mobile == pytest.approx(0.04 / 0.3)


def test_default_prior_prices_the_providers_rule() -> None:
    config = parse_config({})
    e = HitRateModel(config).estimate("lantern", US_LI)  # per_found 1, default prior found_rate 0.35
    assert e.credits_per_call == pytest.approx(0.35)
    assert prior_credits_per_call(config, "crustdata", 0.5) == pytest.approx(1.5)  # (1 + 2) per match


def test_segment_without_data_falls_back_to_country_then_provider_then_prior() -> None:
    counts = {("leadmagic", US_LI): Counts(leads=4000, found=2400, mobiles=2000, paid_calls=4000, credits=12000)}
    model = HitRateModel(CONFIG, counts)
    provider = model.provider_level("leadmagic")
    assert provider.mobile_rate == pytest.approx((2000 + 50 * 0.3) / (4000 + 50))
    # Same country, other identifiers: the country's rate (which is this one segment's, here).
    us_email = model.estimate("leadmagic", US_EMAIL)
    assert us_email.level == "country" and us_email.leads == 0
    assert us_email.mobile_rate == pytest.approx(model.country_level("leadmagic", "US").mobile_rate)
    # Another country: the provider's overall rate.
    fr = model.estimate("leadmagic", FR_LI)
    assert fr.level == "provider"
    assert fr.mobile_rate == pytest.approx(provider.mobile_rate)
    assert fr.credits_per_call == pytest.approx(provider.credits_per_call)
    # A provider never seen: its prior.
    assert model.estimate("pronto", FR_LI).level == "prior"


def test_a_few_dozen_leads_do_not_swing_a_segment() -> None:
    overall = {("leadmagic", US_LI): Counts(5000, 2500, 1000, 5000, 10000)}  # 20% mobiles on 5,000 leads
    lucky = {**overall, ("leadmagic", FR_LI): Counts(36, 36, 36, 36, 180)}  # every one of 36 French leads
    model = HitRateModel(CONFIG, lucky)
    parent = model.provider_level("leadmagic").mobile_rate
    fr = model.estimate("leadmagic", FR_LI)
    # 36 leads against 50 pseudo-leads per level: less than half way from the parent to 100%, twice shrunk.
    assert parent < fr.mobile_rate < parent + 0.5 * (1 - parent)
    assert fr.level == "segment" and fr.leads == 36
    # ...while thousands of leads do move it to what they show.
    many = {**overall, ("leadmagic", FR_LI): Counts(5000, 4000, 3500, 5000, 17500)}
    assert HitRateModel(CONFIG, many).estimate("leadmagic", FR_LI).mobile_rate == pytest.approx(0.7, abs=0.01)


def test_credits_per_call_shrink_over_paid_calls_only() -> None:
    # Stored answers count for the rates but not for the price: 100 leads, 10 paid calls at 5 credits.
    counts = {("leadmagic", US_LI): Counts(100, 50, 40, 10, 50.0)}
    e = HitRateModel(CONFIG, counts).estimate("leadmagic", US_LI)
    # The only segment: its parents, without its own leads, are the prior (2 credits per call).
    assert e.credits_per_call == pytest.approx((50 + 50 * 2.0) / (10 + 50))
    assert e.mobile_rate == pytest.approx((40 + 50 * 0.3) / (100 + 50))


def test_usd_follows_the_configs_price() -> None:
    counts = {("leadmagic", US_LI): Counts(1000, 500, 400, 1000, 2500)}
    cheap = HitRateModel(CONFIG, counts).estimate("leadmagic", US_LI)
    dear_config = parse_config({**CONFIG.model_dump(), "providers": {"leadmagic": {"usd_per_credit": 0.04}}})
    dear = HitRateModel(dear_config, counts).estimate("leadmagic", US_LI)
    assert dear.usd_per_call == pytest.approx(2 * cheap.usd_per_call)
    assert dear.mobile_rate == cheap.mobile_rate


def test_more_evidence_narrows_the_range() -> None:
    few = HitRateModel(CONFIG, {("leadmagic", US_LI): Counts(20, 10, 5, 20, 50)}).estimate("leadmagic", US_LI)
    many = HitRateModel(CONFIG, {("leadmagic", US_LI): Counts(20000, 10000, 5000, 20000, 50000)}
                        ).estimate("leadmagic", US_LI)
    assert many.rate_sd(many.mobile_rate) < few.rate_sd(few.mobile_rate) / 5
    (good_stop, good_usd), (bad_stop, bad_usd) = few.bounds("mobile")
    assert bad_stop < few.mobile_rate < good_stop and good_usd < few.usd_per_call < bad_usd


def test_prior_mobile_rate_cannot_exceed_found_rate() -> None:
    from enrichment_assets.config import ConfigError

    with pytest.raises(ConfigError, match="mobile_rate"):
        parse_config({"cost_model": {"priors": {"pronto": {"found_rate": 0.1, "mobile_rate": 0.2}}}})

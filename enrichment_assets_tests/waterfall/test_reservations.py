"""Budget reservations cover what a call can really cost: the most the vendor ever reported for one call (kept in
the store across runs), and, for Pronto, an email charge whenever an email comes back. Real clients, real HTTP."""

from __future__ import annotations

from pathlib import Path

from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets_tests.vendors.helpers import FOUND_BODY
from enrichment_assets_tests.waterfall.test_lost_answers import config, leads, walk
from enrichment_assets_tests.wire_vendor import Respond, WireVendor


def test_a_vendor_reporting_more_than_the_rule_is_reserved_at_that_from_then_on(tmp_path: Path) -> None:
    # LeadMagic's price rule says 5 per mobile; the vendor reports 8 (a price change the config missed).
    dearer = Respond(200, {**FOUND_BODY["leadmagic"], "credits_consumed": 8}, delay=0.2)
    cfg = config("leadmagic", max_credits_per_run=10, max_concurrency=2, timeout_seconds=5)
    with WireVendor(dearer) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        _, first = walk(store, cfg, vendor.base_url, leads(2, prefix="a"), run_id="run1")
        _, second = walk(store, cfg, vendor.base_url, leads(4, prefix="b"), run_id="run2")
        remembered = store.reported_cost("leadmagic", "/v1/people/mobile-finder")
    # Two calls reserved 5 each before either answer said 8: the first run overshoots once ("limit 10, spent 16").
    assert first.budgets["leadmagic"].spent == 16
    # The vendor's figure is kept in the store: the next run reserves 8 per call and stays within its limit.
    assert remembered == 8
    assert second.budgets["leadmagic"].spent <= 10
    assert second.stats.providers["leadmagic"].skipped_budget == 3


def test_pronto_reserves_for_an_email_it_was_not_asked_for(tmp_path: Path) -> None:
    # enrichment_type [phone], and the answer carries an email anyway: 10 for the phone + 1 for the email.
    answer = Respond(200, {**FOUND_BODY["pronto"], "email": "ann.lee@acme.io"}, delay=0.2)
    cfg = config("pronto", max_credits_per_run=20, max_concurrency=2, timeout_seconds=5)
    with WireVendor(answer) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        _, engine = walk(store, cfg, vendor.base_url, leads(4))
        booked = sum(a.credits or 0 for a in store.attempts())
    assert engine.budgets["pronto"].spent == booked <= 20

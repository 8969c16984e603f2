from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import CallStatus
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets_tests.waterfall.fakes import FIXED_DE, MOBILE_DE, FakeClient, leads, make_engine, run

ORDER = {"waterfall": {"order": ["leadmagic", "enrichlayer"], "stop_when": "mobile"},
         "providers": {p: {"enabled": False} for p in ("pronto", "lantern", "crustdata")}}


def test_stops_at_first_mobile_and_falls_through_otherwise(tmp_path: Path) -> None:
    items = leads(4)
    fakes = {"leadmagic": {"answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}},
             "enrichlayer": {"answers": {items[1].linkedin_url: [(FIXED_DE, None)]}}}
    engine, made, _ = make_engine(tmp_path, ORDER, fakes)
    sink = run(engine, items)
    assert made["leadmagic"].requests == 4
    assert made["enrichlayer"].requests == 3  # r0 stopped at leadmagic
    assert {r.record_id for r in sink.by("enrichlayer")} == {"r1", "r2", "r3"}


def test_stop_when_any_phone_and_never(tmp_path: Path) -> None:
    items = leads(2)
    fakes = {"leadmagic": {"answers": {items[0].linkedin_url: [(FIXED_DE, None)]}}, "enrichlayer": {}}
    cfg = {**ORDER, "waterfall": {"order": ["leadmagic", "enrichlayer"], "stop_when": "any_phone"}}
    engine, made, _ = make_engine(tmp_path / "a", cfg, fakes)
    run(engine, items)
    assert made["enrichlayer"].requests == 1
    cfg = {**ORDER, "waterfall": {"order": ["leadmagic", "enrichlayer"], "stop_when": "never"}}
    engine, made, _ = make_engine(tmp_path / "b", cfg,
                                  {"leadmagic": {"answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}},
                                   "enrichlayer": {}})
    run(engine, items)
    assert made["enrichlayer"].requests == 2


def test_second_run_answers_from_store_without_calls(tmp_path: Path) -> None:
    items = leads(5)
    fakes = {"leadmagic": {"answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}}, "enrichlayer": {}}
    engine, made, store = make_engine(tmp_path, ORDER, fakes)
    run(engine, items)
    first_calls = made["leadmagic"].requests + made["enrichlayer"].requests
    engine2, made2, _ = make_engine(tmp_path, ORDER, fakes, run_id="run2")
    sink = run(engine2, items)
    assert first_calls == 9
    assert made2["leadmagic"].requests == 0 and made2["enrichlayer"].requests == 0
    assert all(r.from_cache and r.credits == 0 for r in sink.rows)
    assert len(store.attempts(run_id="run2")) == 0


def test_cache_ttl_expiry_calls_again(tmp_path: Path) -> None:
    items = leads(2)
    fakes = {"leadmagic": {}, "enrichlayer": {}}
    engine, _, _ = make_engine(tmp_path, {**ORDER, "cache_ttl_days": 30}, fakes)
    run(engine, items)
    later = datetime.now(UTC) + timedelta(days=31)
    engine2, made2, _ = make_engine(tmp_path, {**ORDER, "cache_ttl_days": 30}, fakes, run_id="r2", now=lambda: later)
    run(engine2, items)
    assert made2["leadmagic"].requests == 2


def test_identical_requests_in_flight_are_sent_once(tmp_path: Path) -> None:
    same = [Lead("l1", f"r{i}", linkedin_url="https://www.linkedin.com/in/same") for i in range(5)]
    fakes = {"leadmagic": {"answers": {same[0].linkedin_url: [(MOBILE_DE, "mobile")]}, "delay": 0.05}}
    cfg = {**ORDER, "waterfall": {"order": ["leadmagic"]}}
    engine, made, store = make_engine(tmp_path, cfg, fakes)
    sink = run(engine, same)
    assert made["leadmagic"].requests == 1
    assert len(sink.by("leadmagic")) == 5
    assert sum(r.credits for r in sink.rows) == 5  # per_found 5, paid once
    # One attempt, naming the first lead and whichever others were already waiting for it when it was sent.
    (attempt,) = store.attempts()
    assert attempt.record_ids[0] == "r0" and set(attempt.record_ids) <= {lead.record_id for lead in same}


def test_budget_cap_skips_calls(tmp_path: Path) -> None:
    items = leads(10)
    answers = {lead.linkedin_url: [(MOBILE_DE, "mobile")] for lead in items}
    cfg = {"waterfall": {"order": ["leadmagic"]},
           "providers": {"leadmagic": {"max_credits_per_run": 12, "max_concurrency": 1}}}
    engine, made, _ = make_engine(tmp_path, cfg, {"leadmagic": {"answers": answers}})
    sink = run(engine, items)
    assert made["leadmagic"].requests == 2  # 2 x worst case 5 = 10 <= 12; a third would exceed
    outcomes = [r.outcome for r in sink.by("leadmagic")]
    assert outcomes.count("skipped_budget") == 8 and outcomes.count("found") == 2


def test_budget_waits_for_holds_instead_of_skipping(tmp_path: Path) -> None:
    """Reservations are worst cases: leads must not be skipped while the calls holding them may cost nothing."""
    items = leads(10)
    answers = {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}  # one hit, nine free misses
    cfg = {"waterfall": {"order": ["leadmagic"]},
           "providers": {"leadmagic": {"max_credits_per_run": 10, "max_concurrency": 4}}}
    engine, made, _ = make_engine(tmp_path, cfg, {"leadmagic": {"answers": answers}})
    sink = run(engine, items)
    assert made["leadmagic"].requests == 10
    outcomes = [r.outcome for r in sink.by("leadmagic")]
    assert outcomes.count("skipped_budget") == 0 and outcomes.count("found") == 1
    assert engine.budgets["leadmagic"].spent == 5


def test_suppressed_leads_are_never_sent(tmp_path: Path) -> None:
    items = leads(3)
    suppression = Suppression(record_ids={"r0"}, linkedin_urls={items[1].linkedin_url})
    engine, made, _ = make_engine(tmp_path, ORDER, {"leadmagic": {}, "enrichlayer": {}}, suppression=suppression)
    sink = run(engine, items)
    assert {r.record_id for r in sink.rows} == {"r2"}
    assert made["leadmagic"].requests == 1 and engine.stats.suppressed == 2


def test_ineligible_makes_no_call(tmp_path: Path) -> None:
    items = [Lead("l1", "r0", email="a@b.io")]
    engine, made, _ = make_engine(tmp_path, ORDER, {"leadmagic": {}, "enrichlayer": {}})
    sink = run(engine, items)
    assert made["leadmagic"].requests == 0
    assert {r.outcome for r in sink.rows} == {"ineligible"}


def test_out_of_credits_leaves_leads_pending_and_not_cached(tmp_path: Path) -> None:
    items = leads(2)
    engine, _made, store = make_engine(tmp_path, ORDER, {"leadmagic": {"status": CallStatus.OUT_OF_CREDITS},
                                                        "enrichlayer": {}})
    sink = run(engine, items)
    assert {r.outcome for r in sink.by("leadmagic")} == {"provider_unavailable"}
    assert all("out of credits" in r.error for r in sink.by("leadmagic"))
    assert store.fresh_response(sink.by("leadmagic")[0].request_fingerprint, timedelta(days=1)) is None


def test_crustdata_batches(tmp_path: Path) -> None:
    items = leads(60)
    answers = {lead.linkedin_url: [(MOBILE_DE, None)] for lead in items[:10]}
    cfg = {"waterfall": {"order": ["crustdata"]}, "providers": {"crustdata": {"batch_wait_seconds": 0.05}}}
    engine, made, store = make_engine(tmp_path, cfg, {"crustdata": {"answers": answers}})
    sink = run(engine, items)
    assert sorted(made["crustdata"].batches, reverse=True) == [25, 25, 10]
    # 10 matched identifiers x (1 base + 2 phone field) = 30 credits, settled on 3 requests.
    assert sum(a.credits for a in store.attempts()) == 30
    assert sum(r.credits for r in sink.rows) == 30


def test_vendor_reported_credits_win(tmp_path: Path) -> None:
    items = leads(1)
    cfg = {"waterfall": {"order": ["leadmagic"]}}
    engine, _, store = make_engine(tmp_path, cfg, {"leadmagic": {
        "answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}, "vendor_credits": 4}})
    run(engine, items)
    (attempt,) = store.attempts()
    assert attempt.credits == 4 and attempt.credit_basis == "vendor_reported"


@pytest.mark.parametrize("stop_when", ["mobile", "any_phone", "never"])
def test_every_lead_gets_a_row_per_provider_reached(tmp_path: Path, stop_when: str) -> None:
    items = leads(20)
    cfg = {**ORDER, "waterfall": {"order": ["leadmagic", "enrichlayer"], "stop_when": stop_when}}
    engine, _, _ = make_engine(tmp_path, cfg, {"leadmagic": {}, "enrichlayer": {}})
    sink = run(engine, items)
    assert len(sink.rows) == 40


def test_any_client_that_supports_batching_is_batched(tmp_path: Path) -> None:
    """The engine names no vendor: a client with the batch protocol is batched, whatever its name."""
    items = leads(7)
    wait = 120.0
    engine, made, store = make_engine(tmp_path, {"waterfall": {"order": ["lantern"]}},
                                      {"lantern": {"batch": (3, wait)}})
    sink = run(engine, items)
    assert sorted(made["lantern"].batches, reverse=True) == [3, 3, 1]
    assert len(sink.rows) == 7 and len(store.attempts()) == 3
    # The last, partial batch went out as soon as no lead could join it, not after batch_wait_seconds.
    assert engine.stats.wall_seconds < wait / 4


def test_a_provider_without_key_leaves_the_leads_it_could_take_pending(tmp_path: Path) -> None:
    """Live mode without a key for a provider: no request; eligible leads get ``skipped_no_key`` (pending),
    ineligible ones stay ``ineligible``, and an answer stored by an earlier keyed run is still used."""
    items = [*leads(3), Lead("l1", "r-no-url", "Ann", "Lee", "Acme", "acme.de", "ann@acme.de", None, "DE")]
    fakes = {"leadmagic": {}, "enrichlayer": {"answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}}}
    engine, _, store = make_engine(tmp_path, ORDER, fakes)
    run(engine, items[:1])  # a keyed run answers r0 at Enrich Layer

    def unkeyed(provider: str) -> FakeClient:
        return FakeClient(provider, None, {})

    keyless = {"leadmagic": {}}  # Enrich Layer has no key now
    engine2, _made2, _ = make_engine(tmp_path, ORDER, keyless, run_id="run2", unkeyed_client=unkeyed)
    assert engine2.walk_order == ["leadmagic", "enrichlayer"] and engine2.order == ["leadmagic"]
    sink = run(engine2, items)
    rows = {r.record_id: r for r in sink.by("enrichlayer")}
    assert rows["r0"].outcome == "found" and rows["r0"].from_cache
    assert rows["r1"].outcome == rows["r2"].outcome == "skipped_no_key"
    assert rows["r-no-url"].outcome == "ineligible"
    assert engine2.stats.providers["enrichlayer"].skipped_no_key == 2
    assert store.attempts(run_id="run2") and all(a.provider == "leadmagic" for a in store.attempts(run_id="run2"))

    # Without the unkeyed factory the engine keeps its old behaviour (no row), for callers that want it.
    engine3, _, _ = make_engine(tmp_path / "plain", ORDER, keyless, run_id="run3")
    assert run(engine3, items).by("enrichlayer") == []

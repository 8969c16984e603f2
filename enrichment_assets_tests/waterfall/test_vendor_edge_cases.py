"""Where the vendors' documents differ from what a first client assumes: each case through the real engine and the
real client, against the sandbox (which follows the documents) or a server that misbehaves as documented.

The ledger must equal what the vendor charged, the budget must hold at the vendor, and no lead may be lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from enrichment_assets.config import ConfigError, parse_config
from enrichment_assets.leads.namesakes import Namesakes
from enrichment_assets.outcomes import PENDING_OUTCOMES, RowOutcome
from enrichment_assets.sandbox import SandboxServer
from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.state import SandboxState
from enrichment_assets.sandbox.world import World
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets_tests.vendors.helpers import SleepRecorder
from enrichment_assets_tests.waterfall.sandbox_walk import lead_of, only, walk

WORLD = World()


def _server(**vendors: dict) -> SandboxServer:
    return SandboxServer(state=SandboxState(SandboxConfig.model_validate({"vendors": vendors}), world=WORLD))


def _known_to(vendor: str, n: int, skip: int = 0) -> list:
    people = [p for p in WORLD.people if WORLD.knowledge(vendor, p).profile]
    return people[skip:skip + n]


# --------------------------------------------------------------------------- 1. Crustdata fields


def test_crustdata_contact_fields_are_booked_and_budgeted_at_their_documented_price(tmp_path: Path) -> None:
    people = _known_to("crustdata", 30)
    leads = [lead_of(p, f"r{i}") for i, p in enumerate(people)]
    config = only("crustdata", fields=["contact"], max_credits_per_run=50, batch_wait_seconds=0.05)
    with _server() as server:
        result = walk(tmp_path, server.base_url, config, leads)
        charged = server.state.stats()["vendors"]["crustdata"]["credits_charged"]
    assert 7 <= charged <= 50  # at least one profile bought, never more than the budget at the vendor
    assert result.booked("crustdata") == charged
    # Every profile matched costs 7 (1 + phone 2 + personal emails 2 + business emails 1 + websites 1, capped at 7).
    assert charged % 7 == 0
    outcomes = {r.outcome.value for r in result.rows_of("crustdata")}
    assert "skipped_budget" in outcomes  # the rest wait for the next run: pending, not lost


def test_a_crustdata_field_without_a_price_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"contact\.websites"):
        parse_config({"providers": {"crustdata": {
            "fields": ["contact"],
            "pricing": {"per_match": 1, "per_field": {"contact.phone_numbers": 2, "contact.personal_emails": 2,
                                                      "contact.business_emails": 1}}}}})
    with pytest.raises(ConfigError, match="basic_profile"):
        parse_config({"providers": {"crustdata": {"fields": ["basic_profile"]}}})
    # The default price table knows every contact field.
    assert parse_config({"providers": {"crustdata": {"fields": ["contact"]}}})


# --------------------------------------------------------------------------- 5. Enrich Layer repeats


def test_enrich_layer_numbers_returned_twice_are_booked_twice(tmp_path: Path) -> None:
    people = [p for p in WORLD.people if len(WORLD.knowledge("enrichlayer", p).phones) >= 2][:20]
    leads = [lead_of(p, f"r{i}") for i, p in enumerate(people)]
    with _server(enrichlayer={"repeated_number_share": 0.5}) as server:
        result = walk(tmp_path, server.base_url, only("enrichlayer", page_size=3), leads)
        charged = server.state.stats()["vendors"]["enrichlayer"]["credits_charged"]
    rows = result.rows_of("enrichlayer")
    distinct = sum(len(r.phones) for r in rows)
    assert charged > distinct, "the sandbox returned no repeat: the test proves nothing"
    assert result.booked("enrichlayer") == charged
    assert [r.credits for r in rows] == [float(a.credits) for a in result.attempts]



# --------------------------------------------------------------------------- 2. Crustdata 400 for one identifier


def test_a_crustdata_400_isolates_the_malformed_identifiers_and_answers_the_others(tmp_path: Path) -> None:
    people = _known_to("crustdata", 10)
    leads = [lead_of(p, f"r{i}") for i, p in enumerate(people)]
    # A company page is not a profile URL: the vendor refuses the whole request that holds it (400).
    bad = {"r3": "https://www.linkedin.com/company/acme-inc", "r8": "https://www.linkedin.com/company/globex"}
    leads = [lead_of(p, r.record_id, linkedin_url=bad[r.record_id]) if r.record_id in bad else r
             for p, r in zip(people, leads, strict=True)]
    config = only("crustdata", batch_wait_seconds=0.5)
    with _server() as server:
        result = walk(tmp_path, server.base_url, config, leads)
        vendor = server.state.stats()["vendors"]["crustdata"]
    rows = {r.record_id: r for r in result.rows_of("crustdata")}
    for record_id in bad:
        assert rows[record_id].outcome.value == "error"
        assert "HTTP 400" in rows[record_id].error and "Malformed profile URL" in rows[record_id].error
    answered = {r for r, row in rows.items() if row.outcome.value in ("found", "not_found")}
    assert answered == set(rows) - set(bad)
    # Each good identifier went out in exactly one answered (200) request: nothing paid twice.
    answered_requests = [a for a in result.attempts if a.http_status == 200]
    sent_ok = [fp for a in answered_requests for fp in a.request_fingerprints]
    assert len(sent_ok) == len(set(sent_ok)) == len(answered)
    assert result.booked("crustdata") == vendor["credits_charged"] > 0
    assert all(a.credits == 0 for a in result.attempts if a.http_status == 400)


# --------------------------------------------------------------------------- 3. Pronto consent 422


def test_pronto_consent_422_turns_personal_email_off_for_the_run_and_asks_the_lead_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    people = _known_to("pronto", 12)
    leads = [lead_of(p, f"r{i}") for i, p in enumerate(people)]
    # The config says the account consented; the account (the sandbox) says it did not.
    config = only("pronto", enrichment_type=["phone", "personal_email"], personal_email_consent=True)
    with caplog.at_level(logging.WARNING, logger="enrichment_assets.vendors"), _server() as server:
        result = walk(tmp_path, server.base_url, config, leads)
        vendor = server.state.stats()["vendors"]["pronto"]
    rows = result.rows_of("pronto")
    assert {r.outcome.value for r in rows} <= {"found", "not_found"}, [(r.outcome, r.error) for r in rows]
    assert any(r.outcome.value == "found" for r in rows)
    refusals = [a for a in result.attempts if a.http_status == 422]
    assert len(refusals) == 1  # the first request with personal_email goes alone until the vendor accepts one
    assert vendor["by_status"].get("422") == len(refusals)
    assert vendor["by_status"]["200"] == len(leads)  # each lead answered once
    consent_lines = [r for r in caplog.records if "consent" in r.getMessage()]
    assert len(consent_lines) == 1, [r.getMessage() for r in consent_lines]
    assert result.booked("pronto") == vendor["credits_charged"]


# ------------------------------------------------------------------------- 4. LeadMagic 500: unknown; its own schedule


def _all_500s(tmp_path: Path, **settings: object):
    people = _known_to("leadmagic", 6)
    leads = [lead_of(p, f"r{i}") for i, p in enumerate(people)]
    sleep = SleepRecorder()
    with _server(leadmagic={"faults": {"error_rate": 1.0}}) as server:  # every request answers 500
        result = walk(tmp_path, server.base_url, only("leadmagic", **settings), leads,
                      client_options={"sleep": sleep})
        vendor = server.state.stats()["vendors"]["leadmagic"]
        with ResponseStore(tmp_path / "store.sqlite") as store:
            stored = [store.fresh_response(r.request_fingerprint, timedelta(days=1))
                      for r in result.rows_of("leadmagic")]
    return leads, sleep, result, vendor, stored


def test_a_leadmagic_500_is_unknown_and_left_to_the_next_run_by_default(tmp_path: Path) -> None:
    # Its document does not say a 500 is free: asked again at once, it might bill twice (retry_unknown: next_run).
    leads, sleep, result, vendor, stored = _all_500s(tmp_path)
    assert [w for w in sleep.waits if w >= 1] == []
    assert vendor["requests"] == len(leads) == len(result.attempts)
    rows = result.rows_of("leadmagic")
    assert len(rows) == len(leads)
    assert {RowOutcome(r.outcome) for r in rows} == {RowOutcome.UNKNOWN}  # pending: the next run asks again
    assert stored == [None] * len(leads)
    assert result.booked("leadmagic") == vendor["credits_charged"] == 0
    # Booked at its worst case as uncertain: one found number, 5 credits.
    assert [(a.outcome, a.worst_case_credits) for a in result.attempts] == [("unknown", 5.0)] * len(leads)


def test_leadmagic_500s_asked_again_in_the_run_wait_its_documented_30_s_twice_then_the_lead_is_pending(
        tmp_path: Path) -> None:
    leads, sleep, result, vendor, stored = _all_500s(tmp_path, retry_unknown="now")
    # The document: "wait 30 seconds and retry"; by default twice (max_retries: 2), then the lead is pending.
    assert [w for w in sleep.waits if w >= 1] == [30.0, 30.0] * len(leads)
    assert vendor["requests"] == 3 * len(leads) == len(result.attempts)
    rows = result.rows_of("leadmagic")
    assert len(rows) == len(leads)
    assert all(RowOutcome(r.outcome) in PENDING_OUTCOMES for r in rows)  # pending: a rerun asks again
    assert stored == [None] * len(leads)
    assert result.booked("leadmagic") == vendor["credits_charged"] == 0


def test_a_retry_schedule_is_a_per_vendor_setting() -> None:
    config = parse_config({"providers": {"pronto": {"retry_schedule": [1, 5]}}})
    assert config.provider("pronto").retry_schedule == [1, 5]
    assert config.provider("leadmagic").retry_schedule == [30]
    assert config.provider("enrichlayer").retry_schedule is None  # exponential backoff
    with pytest.raises(ConfigError, match="retry_schedule"):
        parse_config({"providers": {"pronto": {"retry_schedule": [-1]}}})


# --------------------------------------------------------------------------- 6. Lantern and namesakes


def _namesake_leads() -> tuple[list, dict]:
    """Both people of every namesake pair of the world, as leads, and who each lead really is."""
    people = [p for p in WORLD.people if WORLD.namesakes(p)]
    leads = [lead_of(p, f"n{p.person_id}", list_id="l1" if i % 2 else "l2") for i, p in enumerate(people)]
    return leads, {lead.record_id: person for lead, person in zip(leads, people, strict=True)}


def _wrong_numbers(result, truth: dict) -> list[str]:
    wrong = []
    for row in result.rows_of("lantern"):
        person = truth[row.record_id]
        wrong += [row.record_id for n in row.phones if n not in (person.mobile, person.office, person.switchboard)]
    return wrong


@pytest.mark.parametrize("mode", [None, "always"])
def test_lantern_asks_a_lead_with_a_namesake_by_its_unique_identifier(tmp_path: Path, mode: str | None) -> None:
    leads, truth = _namesake_leads()
    settings = {} if mode is None else {"unique_id_only": mode}
    known = Namesakes.from_leads(leads)  # the leads of every list the project holds
    with _server() as server:
        result = walk(tmp_path, server.base_url, only("lantern", **settings), leads,
                      on_clients=lambda clients: clients["lantern"].know_namesakes(known))
    found = [r for r in result.rows_of("lantern") if r.outcome.value == "found"]
    assert len(found) >= 10
    assert _wrong_numbers(result, truth) == []


def test_lantern_by_name_and_company_gives_namesakes_each_others_numbers(tmp_path: Path) -> None:
    """What the setting prevents: the vendor's own order, name + company first (the test above can fail)."""
    leads, truth = _namesake_leads()
    with _server() as server:
        result = walk(tmp_path, server.base_url, only("lantern", unique_id_only="never"), leads)
    assert len(_wrong_numbers(result, truth)) >= 5


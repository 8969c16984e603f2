"""The pipeline's Python assets in this process, against a sandbox over real HTTP.

The sandbox counts every request and every credit it charged; these tests hold the ledger, the result
tables and the contacts to those counters. They run the same assets, resources and checks as ``enrich
run`` through ``dagster.materialize()`` (see ``support/pipeline.py``), in seconds; what only the CLI shows
is in test_waterfall_e2e.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import phonenumbers
import pytest

from enrichment_assets.sandbox.sample_data import write_sample_leads
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.files import write_config
from enrichment_assets_tests.support.pipeline import Pipeline
from enrichment_assets_tests.support.sandbox import WORLD, RecordingSandbox

ORDER = ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"]


def leads_file(tmp_path: Path, n: int, name: str = "leads", seed: int = 11) -> Path:
    path = tmp_path / f"{name}.csv"
    write_sample_leads(path, WORLD, n=n, seed=seed)
    return path


def config(tmp_path: Path, stop_when: str = "never", **providers: dict) -> Path:
    return write_config(tmp_path / f"{stop_when}.yaml", fast_clients=True, waterfall={"stop_when": stop_when},
                        **providers)


def ledger_by_provider(pipeline: Pipeline) -> dict[str, tuple[int, float]]:
    rows = pipeline.query("SELECT provider, count(*), sum(credits) FROM credit_ledger GROUP BY provider")
    return {p: (n, float(c)) for p, n, c in rows}


def sandbox_counts(sandbox: RecordingSandbox) -> dict[str, tuple[int, float]]:
    stats = sandbox.stats()["vendors"]
    return {p: (stats[p]["requests"], float(stats[p]["credits_charged"])) for p in PROVIDERS}


def test_ledger_equals_sandbox_charges_and_reruns_pay_nothing(pipeline: Pipeline, fast_sandbox: RecordingSandbox,
                                                              tmp_path: Path) -> None:
    cfg = config(tmp_path, "never", crustdata={"batch_size": 25, "batch_wait_seconds": 5.0})
    leads = leads_file(tmp_path, 80)
    pipeline.run(leads, cfg)

    charged = sandbox_counts(fast_sandbox)
    ledger = ledger_by_provider(pipeline)
    for provider in PROVIDERS:
        requests, credits = charged[provider]
        assert requests > 0 and credits > 0, provider  # every pricing rule was exercised
        assert ledger[provider] == (requests, credits), provider
    bases = dict(pipeline.query("SELECT provider, string_agg(DISTINCT credit_basis, ',') FROM credit_ledger "
                                "WHERE http_status BETWEEN 200 AND 299 GROUP BY provider"))
    assert bases["leadmagic"] == "vendor_reported"
    assert all(bases[p] == "price_rule" for p in ("pronto", "enrichlayer", "lantern", "crustdata"))
    # Crustdata was batched: far fewer requests than leads sent to it.
    crust_leads = pipeline.query("SELECT count(*) FROM crustdata_results WHERE outcome IN ('found', 'not_found')")[0][0]
    assert crust_leads >= 10 and charged["crustdata"][0] <= -(-crust_leads // 25) + 2

    # Same file again: no vendor request, no ledger row.
    entries = {e for (e,) in pipeline.query("SELECT entry_id FROM credit_ledger")}
    first_run = {p: pipeline.query(f"SELECT DISTINCT run_id FROM {p}_results") for p in PROVIDERS}
    pipeline.run(leads, cfg)
    assert sandbox_counts(fast_sandbox) == charged
    assert {e for (e,) in pipeline.query("SELECT entry_id FROM credit_ledger")} == entries
    # Nothing changed, so no lead was walked again: every provider row is still the first run's.
    assert {p: pipeline.query(f"SELECT DISTINCT run_id FROM {p}_results") for p in PROVIDERS} == first_run

    # Five leads get another person's identifiers: only those five reach a vendor.
    with leads.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    li, em = header.index("LinkedIn"), header.index("Work Email")
    targets = [r for r in body if r[0].strip() and r[li].strip()][:5]
    changed: set[str] = set()
    for row, person in zip(targets, WORLD.people[2000:2005], strict=True):
        row[li], row[em] = person.linkedin_url, person.work_email
        changed.add(row[0].strip())
    with leads.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    last = pipeline.run(leads, cfg)

    after = sandbox_counts(fast_sandbox)
    assert sum(after[p][0] for p in PROVIDERS) > sum(charged[p][0] for p in PROVIDERS)
    new_rows = [row for row in pipeline.query("SELECT entry_id, record_id, record_ids FROM credit_ledger")
                if row[0] not in entries]
    new_records = {r for _, record_id, record_ids in new_rows for r in (record_ids or [record_id])}
    assert new_records and new_records <= changed
    # Only the five changed leads were walked again: the last run wrote rows for them and no one else.
    rewritten = {r for p in PROVIDERS
                 for (r,) in pipeline.query(f"SELECT record_id FROM {p}_results WHERE run_id = ?",
                                            [last.run_id])}
    assert rewritten == changed
    ledger = ledger_by_provider(pipeline)
    for provider in PROVIDERS:
        assert ledger[provider] == after[provider], provider


def test_no_switchboard_chosen_when_the_mobile_was_returned(pipeline: Pipeline, tmp_path: Path) -> None:
    pipeline.run(leads_file(tmp_path, 120), config(tmp_path, "never"))
    contacts = pipeline.query("SELECT c.record_id, r.linkedin_url, r.email, c.best_phone, c.status FROM contacts c "
                              "JOIN raw_leads r USING (list_id, record_id)")
    returned: dict[str, set[str]] = {}
    for record_id, e164 in pipeline.query("SELECT record_id, e164 FROM contact_phones"):
        returned.setdefault(record_id, set()).add(e164)
    checked = strict = 0
    for record_id, linkedin, email, best, status in contacts:
        person = WORLD.person_by_linkedin(linkedin) if linkedin else WORLD.person_by_email(email)
        if person is None or person.mobile not in returned.get(record_id, set()):
            continue
        checked += 1
        assert best != person.switchboard, (record_id, status)
        if not person.mobile.startswith("+1"):
            # Outside NANP libphonenumber knows a mobile range: the person's own mobile must win.
            strict += 1
            assert best == person.mobile, (record_id, status)
            assert status == "mobile_found"
        # In NANP nobody can tell a mobile from a direct line without a vendor's claim: that's all we ask.
    assert checked >= 40 and strict >= 20  # many people, colleagues sharing a switchboard among them
    assert pipeline.query("SELECT count(*) FROM contact_phones WHERE shared_with_others")[0][0] > 0


def test_budget_cap_is_never_exceeded(pipeline: Pipeline, fast_sandbox: RecordingSandbox, tmp_path: Path) -> None:
    cfg = config(tmp_path, "never", leadmagic={"max_credits_per_run": 40}, pronto={"max_credits_per_run": 30})
    pipeline.run(leads_file(tmp_path, 60), cfg)
    charged = sandbox_counts(fast_sandbox)
    assert 0 < charged["leadmagic"][1] <= 40
    assert 0 < charged["pronto"][1] <= 30
    skipped = dict(pipeline.query(
        "SELECT 'leadmagic', count(*) FROM leadmagic_results WHERE outcome = 'skipped_budget' "
        "UNION ALL SELECT 'pronto', count(*) FROM pronto_results WHERE outcome = 'skipped_budget'"))
    assert skipped["leadmagic"] > 0 and skipped["pronto"] > 0
    assert ledger_by_provider(pipeline)["leadmagic"][1] == charged["leadmagic"][1]
    # Leads skipped for budget still went on to the other providers.
    assert charged["enrichlayer"][0] > 0


def test_suppressed_leads_are_never_sent_and_suppressed_numbers_never_chosen(
        pipeline: Pipeline, tmp_path: Path) -> None:
    cfg = config(tmp_path, "never")
    leads = leads_file(tmp_path, 40)
    pipeline.run(leads, cfg)  # learn who is who and which numbers win
    picked = pipeline.query("SELECT c.record_id, r.email, r.linkedin_url, c.best_phone FROM contacts c "
                            "JOIN raw_leads r USING (list_id, record_id) WHERE c.best_phone IS NOT NULL "
                            "AND r.email IS NOT NULL AND r.linkedin_url IS NOT NULL ORDER BY c.record_id")
    by_id, by_email, by_linkedin, by_phone = picked[0], picked[1], picked[2], picked[3]

    # A fresh database and store: the suppressed leads must not be sent anywhere.
    fresh = tmp_path / "fresh.duckdb"
    suppression = Path(pipeline.env["ENRICHMENT_SUPPRESSION"])
    with suppression.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "email", "linkedin_url", "phone"])
        writer.writerow([by_id[0], "", "", ""])
        writer.writerow(["", by_email[1].upper(), "", ""])
        writer.writerow(["", "", by_linkedin[2].replace("https://www.", "http://"), ""])
        writer.writerow(["", "", "", by_phone[3]])
    pipeline.run(leads, cfg, ENRICHMENT_DB=str(fresh))

    suppressed = sorted({by_id[0], by_email[0], by_linkedin[0]})
    statuses = dict(pipeline.query("SELECT record_id, status FROM contacts WHERE record_id IN "
                                   "(SELECT unnest(?::VARCHAR[]))", [suppressed], db=fresh))
    assert statuses == dict.fromkeys(suppressed, "suppressed")
    called = pipeline.query("SELECT count(*) FROM credit_ledger WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "
                            "OR list_has_any(record_ids, ?::VARCHAR[])", [suppressed, suppressed], db=fresh)
    assert called == [(0,)]
    for provider in PROVIDERS:
        rows = pipeline.query(f"SELECT count(*) FROM {provider}_results WHERE outcome <> 'ineligible' AND "
                              "record_id IN (SELECT unnest(?::VARCHAR[]))", [suppressed], db=fresh)
        assert rows == [(0,)], provider
    best = pipeline.query("SELECT best_phone FROM contacts WHERE record_id = ?", [by_phone[0]], db=fresh)[0][0]
    assert best != by_phone[3]
    assert pipeline.query("SELECT count(*) FROM contacts WHERE best_phone = ?", [by_phone[3]], db=fresh) == [(0,)]


# --------------------------------------------------------------------------------------------- stop rules


def meets(rule: str, phones: list[str], claims: list[str | None], country: str | None) -> bool:
    """The README's stop rule, written again here with libphonenumber: not the engine's code."""
    if rule == "never":
        return False
    for number, claim in zip(phones, claims, strict=True):
        try:
            parsed = phonenumbers.parse(number, country)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(parsed):
            continue
        if rule == "any_phone":
            return True
        kind = phonenumbers.number_type(parsed)
        if kind == phonenumbers.PhoneNumberType.MOBILE:
            return True
        if (claim or "").lower() == "mobile" and kind == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE:
            return True
    return False


@pytest.mark.parametrize("stop_when", ["mobile", "any_phone", "never"])
def test_stop_rules_against_the_sandbox(pipeline: Pipeline, tmp_path: Path, stop_when: str) -> None:
    """Each lead reaches exactly the providers up to the first whose answer meets ``stop_when``, whoever it is."""
    pipeline.run(leads_file(tmp_path, 60), config(tmp_path, stop_when))
    country = dict(pipeline.query("SELECT record_id, country FROM raw_leads"))
    rows: dict[str, dict[str, tuple[str, list[str], list[str | None]]]] = {}
    for provider in ORDER:
        for record_id, outcome, phones, claims in pipeline.query(
                f"SELECT record_id, outcome, phones, claimed_types FROM {provider}_results"):
            rows.setdefault(record_id, {})[provider] = (outcome, list(phones or []), list(claims or []))
    stopped_by: dict[str, int] = {}
    walked_past_a_find = 0
    for record_id, answers in rows.items():
        expected = []
        for provider in ORDER:
            expected.append(provider)
            if provider in answers and meets(stop_when, answers[provider][1], answers[provider][2],
                                             country[record_id]):
                stopped_by[provider] = stopped_by.get(provider, 0) + 1
                break
        assert list(answers) == expected, (record_id, stop_when, answers)
        walked_past_a_find += any(answers[p][0] == "found" for p in list(answers)[:-1])
    if stop_when == "never":
        assert stopped_by == {}
        assert all(len(a) == len(ORDER) for a in rows.values())  # every provider saw every lead
    else:
        # Providers other than LeadMagic stop walks too (Pronto's or Crustdata's mobile, any number for any_phone).
        assert sum(n for p, n in stopped_by.items() if p != "leadmagic") >= 3, stopped_by
        assert sum(stopped_by.values()) >= 10, stopped_by
    if stop_when == "mobile":
        # Numbers that are not mobiles (office lines, unclaimed NANP numbers) were found and the walk went on.
        assert walked_past_a_find >= 3


# --------------------------------------------------------------------------------------------- pricing edge cases


@pytest.mark.parametrize(("fields", "per_match"), [
    pytest.param(["contact.phone_numbers", "contact.business_emails", "contact.websites"], 1 + 2 + 1 + 1,
                 id="phone+business_emails+websites"),
    pytest.param(["contact.phone_numbers", "contact.personal_emails"], 1 + 2 + 2, id="phone+personal_emails"),
    # Every contact sub-field, capped at 7 per profile (issue 18: booked at 1 before).
    pytest.param(["contact"], 7, id="contact-all-capped-at-7"),
])
def test_crustdata_fields_are_priced_per_field(pipeline: Pipeline, fast_sandbox: RecordingSandbox, tmp_path: Path,
                                               fields: list[str], per_match: int) -> None:
    """Crustdata bills each matched identifier its base price plus each requested field (README, pricing)."""
    prices = {"contact.phone_numbers": 2, "contact.business_emails": 1, "contact.websites": 1,
              "contact.personal_emails": 2}
    cfg = write_config(tmp_path / "crustdata.yaml", fast_clients=True, waterfall={"order": ["crustdata"]},
                       crustdata={"fields": fields, "batch_size": 25, "batch_wait_seconds": 5.0,
                                  "pricing": {"per_match": 1, "per_field": prices}})
    leads = leads_file(tmp_path, 40)
    pipeline.run(leads, cfg)

    # Hand count: every lead with a LinkedIn URL is asked by it; the world says whom Crustdata knows.
    matched = 0
    for linkedin, email in pipeline.query("SELECT linkedin_url, email FROM raw_leads"):
        person = WORLD.person_by_linkedin(linkedin) if linkedin else WORLD.person_by_email(email)
        known = WORLD.knowledge("crustdata", person) if person else None
        if known is not None and known.profile and (linkedin or known.work_email == email):
            matched += 1
    assert matched >= 10
    charged = fast_sandbox.credits_by_provider()["crustdata"]
    booked = pipeline.query("SELECT sum(credits) FROM credit_ledger WHERE provider = 'crustdata'")[0][0]
    assert (charged, booked) == (matched * per_match, matched * per_match)


def test_enrichlayer_repeated_numbers_are_booked_as_billed(pipeline: Pipeline, fast_sandbox: RecordingSandbox,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enrich Layer returns a person's first number twice: it bills every number it returned."""
    import dataclasses

    from enrichment_assets.sandbox.world import World

    knowledge = World.knowledge

    def with_a_repeat(self: World, vendor: str, person):
        known = knowledge(self, vendor, person)
        if vendor == "enrichlayer" and known.phones:
            return dataclasses.replace(known, phones=(known.phones[0], *known.phones))
        return known

    monkeypatch.setattr(World, "knowledge", with_a_repeat)
    cfg = write_config(tmp_path / "el.yaml", fast_clients=True, waterfall={"order": ["enrichlayer"]})
    pipeline.run(leads_file(tmp_path, 20), cfg)

    # page_size 3: a person with numbers gets min(3, numbers + 1) of them back, one of them twice.
    returned = [min(3, len(knowledge(WORLD, "enrichlayer", p).phones) + 1)
                for p in (WORLD.person_by_linkedin(u) for (u,) in pipeline.query(
                    "SELECT linkedin_url FROM raw_leads WHERE linkedin_url IS NOT NULL"))
                if p is not None and knowledge(WORLD, "enrichlayer", p).profile
                and knowledge(WORLD, "enrichlayer", p).phones]
    assert len(returned) >= 5
    charged = fast_sandbox.credits_by_provider()["enrichlayer"]
    booked = pipeline.query("SELECT sum(credits) FROM credit_ledger WHERE provider = 'enrichlayer'")[0][0]
    assert charged == sum(returned)  # the sandbox bills as the document says
    assert booked == charged, f"the ledger booked {booked} credits, Enrich Layer charged {charged}"

from __future__ import annotations

import re

import phonenumbers
import pytest

from enrichment_assets.phones import (
    ContactPhone,
    LeadPhones,
    PhoneObservation,
    choose_best,
    classify_contact,
    classify_many,
    company_key,
    find_shared_numbers,
    normalize_claim,
    shared_numbers_by_company,
)
from enrichment_assets.phones import score as score_mod
from enrichment_assets.phones.score import (
    AGREEMENT_BONUS,
    BASE_VALID,
    INVALID_SCORE,
    LIB_MOBILE_WEIGHT,
    SHARED_PENALTY,
    VENDOR_MOBILE_WEIGHT,
)

from .helpers import REGIONS, dashed, fixed_of, mobile_of, national, status_of

Obs = PhoneObservation


def variant(e164: str, last: str) -> str:
    """Another valid number of the same kind: the example with its last digits replaced."""
    candidate = e164[: -len(last)] + last
    number = phonenumbers.parse(candidate, None)
    assert phonenumbers.is_valid_number(number), candidate
    assert phonenumbers.number_type(number) == phonenumbers.number_type(phonenumbers.parse(e164, None))
    return candidate


US_A = mobile_of("US")  # +12015550123: FIXED_LINE_OR_MOBILE to libphonenumber
US_B = variant(US_A, "99")
GB_MOBILE = mobile_of("GB")
GB_MOBILE_2 = variant(GB_MOBILE, "99")
GB_FIXED = fixed_of("GB")
DE_MOBILE = mobile_of("DE")


def by_e164(phones: list[ContactPhone]) -> dict[str | None, ContactPhone]:
    return {p.e164: p for p in phones}


# --------------------------------------------------------------------------- #
# NANP: libphonenumber cannot tell
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("region", ["US", "CA"])
def test_nanp_number_alone_is_not_a_mobile(region: str) -> None:
    phones = classify_contact("r1", [Obs("lantern", dashed(region))], [region])
    (phone,) = phones
    assert phone.number_type == "fixed_line_or_mobile"
    assert not phone.is_personal_mobile
    assert phone.score == BASE_VALID
    best = choose_best(phones)
    assert best is phone and status_of(best) == "phone_found"


@pytest.mark.parametrize("region", ["US", "CA"])
def test_nanp_number_with_vendor_mobile_claim_is_a_mobile(region: str) -> None:
    for obs in (Obs("leadmagic", dashed(region)), Obs("pronto", mobile_of(region), "mobile"),
                Obs("lantern", mobile_of(region), "Cell")):  # fmt: skip
        (phone,) = classify_contact("r1", [obs], [region])
        assert phone.number_type == "mobile", obs
        assert phone.is_personal_mobile
        assert phone.score == BASE_VALID + VENDOR_MOBILE_WEIGHT
        assert status_of(choose_best([phone])) == "mobile_found"


def test_nanp_conflicting_claims_do_not_make_a_mobile() -> None:
    (phone,) = classify_contact("r1", [Obs("leadmagic", US_A), Obs("pronto", US_A, "landline")], ["US"])
    assert phone.number_type == "fixed_line_or_mobile" and not phone.is_personal_mobile
    assert phone.claimed_types == ["fixed_line", "mobile"]
    (phone,) = classify_contact(
        "r1", [Obs("leadmagic", US_A), Obs("pronto", US_A, "mobile"), Obs("lantern", US_A, "landline")], ["US"]
    )
    assert phone.is_personal_mobile  # two providers say mobile, one says landline


def test_pronto_non_mobile_claim_is_not_mobile_evidence() -> None:
    (phone,) = classify_contact("r1", [Obs("pronto", US_A, "work")], ["US"])
    assert phone.number_type == "fixed_line_or_mobile" and not phone.is_personal_mobile
    assert phone.claimed_types == ["work"]


def test_libphonenumber_mobile_is_strong_evidence() -> None:
    (phone,) = classify_contact("r1", [Obs("enrichlayer", DE_MOBILE)], ["DE"])
    assert phone.number_type == "mobile" and phone.is_personal_mobile
    assert phone.score == BASE_VALID + LIB_MOBILE_WEIGHT
    (both,) = classify_contact("r1", [Obs("leadmagic", DE_MOBILE)], ["DE"])
    assert both.score == BASE_VALID + LIB_MOBILE_WEIGHT + VENDOR_MOBILE_WEIGHT
    # A vendor saying "landline" does not overrule libphonenumber's MOBILE.
    (contested,) = classify_contact("r1", [Obs("pronto", DE_MOBILE, "landline")], ["DE"])
    assert contested.is_personal_mobile


@pytest.mark.parametrize("region", ["GB", "DE", "FR", "AU", "ES", "NL", "BR"])
def test_fixed_line_contradicts_vendor_mobile_claim(region: str) -> None:
    phones = classify_contact(
        "r1", [Obs("leadmagic", fixed_of(region)), Obs("pronto", fixed_of(region), "mobile")], [region]
    )
    (phone,) = phones
    assert phone.number_type == "fixed_line"
    assert not phone.is_personal_mobile
    assert phone.claimed_types == ["mobile"]
    assert status_of(choose_best(phones)) == "phone_found"


@pytest.mark.parametrize("region", REGIONS)
def test_national_formats_with_hints_merge_with_e164(region: str) -> None:
    phones = classify_contact(
        "r1",
        [Obs("enrichlayer", national(region)), Obs("crustdata", dashed(region)), Obs("pronto", mobile_of(region))],
        [region],
    )
    (phone,) = phones
    assert phone.e164 == mobile_of(region) and phone.region == region
    assert phone.sources == ["crustdata", "enrichlayer", "pronto"] and phone.source_count == 3
    assert phone.is_personal_mobile is (region not in ("US", "CA"))


# --------------------------------------------------------------------------- #
# Switchboards
# --------------------------------------------------------------------------- #


def test_switchboard_from_three_providers_never_beats_the_persons_mobile() -> None:
    switchboard = US_B
    providers = ["enrichlayer", "crustdata", "lantern"]
    formats = [switchboard, "+1-" + "-".join(re.findall(r"(\d{3})(\d{3})(\d{4})", switchboard[2:])[0]),
               "(" + switchboard[2:5] + ") " + switchboard[5:8] + "-" + switchboard[8:]]  # fmt: skip
    leads = []
    for person in ["alice", "bob", "carol"]:
        obs = [Obs(p, f) for p, f in zip(providers, formats, strict=True)]
        if person == "alice":
            obs.append(Obs("leadmagic", US_A))  # her mobile: one provider, NANP, weakest evidence
        leads.append(LeadPhones(person, obs, ["US"], company_key("Acme Inc.", "acme.com")))
    result = classify_many(leads)

    alice = by_e164(result["alice"])
    sb = alice[switchboard]
    assert sb.source_count == 3 and sb.shared_with_others and not sb.is_personal_mobile
    assert sb.score == BASE_VALID + 2 * AGREEMENT_BONUS + SHARED_PENALTY
    mobile = alice[US_A]
    assert mobile.is_personal_mobile and mobile.score > sb.score
    assert choose_best(result["alice"]) is mobile
    assert result["alice"][0] is mobile
    assert status_of(choose_best(result["alice"])) == "mobile_found"

    # A colleague with nothing but the switchboard has no number of their own: it is kept, never chosen.
    assert [p.e164 for p in result["bob"]] == [switchboard] and result["bob"][0].shared_with_others
    assert choose_best(result["bob"]) is None and status_of(None) == "not_found"


def test_shared_mobile_claim_is_ignored_and_shared_number_is_never_chosen() -> None:
    company = company_key(None, "acme.co.uk")
    leads = [
        LeadPhones("a", [Obs("leadmagic", GB_MOBILE), Obs("enrichlayer", GB_FIXED)], ["GB"], company),
        LeadPhones("b", [Obs("leadmagic", GB_MOBILE)], ["GB"], company),
    ]
    result = classify_many(leads)
    a = by_e164(result["a"])
    # GB_MOBILE is returned for both people: libphonenumber still says mobile (line type),
    # but it is not a personal mobile, and the unshared fixed line is preferred.
    assert a[GB_MOBILE].number_type == "mobile"
    assert a[GB_MOBILE].shared_with_others and not a[GB_MOBILE].is_personal_mobile
    assert a[GB_FIXED].score > a[GB_MOBILE].score
    assert choose_best(result["a"]).e164 == GB_FIXED
    # b has nothing but the shared number: no best phone (a switchboard is nobody's number).
    assert result["b"][0].e164 == GB_MOBILE and choose_best(result["b"]) is None

    # NANP: a vendor's mobile claim on a shared number does not make it a mobile.
    nanp = classify_many([LeadPhones(r, [Obs("leadmagic", US_A)], ["US"], "acme.com") for r in "xy"])
    assert nanp["x"][0].number_type == "fixed_line_or_mobile" and not nanp["x"][0].is_personal_mobile


def test_same_number_in_different_companies_is_not_shared() -> None:
    result = classify_many(
        [
            LeadPhones("a", [Obs("enrichlayer", GB_MOBILE)], ["GB"], "acme.com"),
            LeadPhones("b", [Obs("enrichlayer", GB_MOBILE)], ["GB"], "other.com"),
            LeadPhones("c", [Obs("enrichlayer", GB_MOBILE)], ["GB"], None),
        ]
    )
    assert all(not phones[0].shared_with_others and phones[0].is_personal_mobile for phones in result.values())


def test_duplicate_leads_of_one_person_are_not_colleagues() -> None:
    url = "https://www.linkedin.com/in/jane"
    result = classify_many(
        [
            LeadPhones("a", [Obs("leadmagic", GB_MOBILE)], ["GB"], "acme.com", person_key=url),
            LeadPhones("b", [Obs("pronto", GB_MOBILE)], ["GB"], "acme.com", person_key=url),
        ]
    )
    assert result["a"][0].is_personal_mobile and result["b"][0].is_personal_mobile


def test_repeated_record_id_is_one_contact() -> None:
    result = classify_many(
        [
            LeadPhones("a", [Obs("leadmagic", GB_MOBILE)], ["GB"], "acme.com"),
            LeadPhones("a", [Obs("pronto", GB_MOBILE), Obs("pronto", GB_FIXED)], ["GB"], "acme.com"),
        ]
    )
    phones = by_e164(result["a"])
    assert len(result["a"]) == 2
    assert phones[GB_MOBILE].sources == ["leadmagic", "pronto"] and not phones[GB_MOBILE].shared_with_others


def test_find_shared_numbers() -> None:
    rows = [
        ("a", "acme.com", "+1"),
        ("b", "acme.com", "+1"),
        ("c", "acme.com", "+1"),
        ("a", "acme.com", "+2"),
        ("a", "acme.com", "+2"),  # same person twice: not shared
        ("a", "other.com", "+3"),
        ("b", "acme.com", "+3"),  # different companies: not shared
        ("x", None, "+4"),
        ("y", None, "+4"),  # unknown company: ignored
        ("x", "acme.com", None),
        ("y", "acme.com", None),
    ]
    shared = find_shared_numbers(rows)
    assert shared == {("acme.com", "+1")}
    assert shared_numbers_by_company(shared) == {"acme.com": frozenset({"+1"})}


def test_classify_contact_with_shared_set() -> None:
    phones = classify_contact(
        "r1", [Obs("enrichlayer", GB_FIXED), Obs("enrichlayer", GB_MOBILE)], ["GB"], shared_numbers={GB_FIXED}
    )
    phone = by_e164(phones)
    assert phone[GB_FIXED].shared_with_others and not phone[GB_MOBILE].shared_with_others


@pytest.mark.parametrize(
    ("company", "domain", "key"),
    [
        ("Acme GmbH", "www.Acme.de", "acme.de"),
        ("Acme Inc.", None, "acme"),
        ("ACME, Inc", "", "acme"),
        ("Acme Ltd", None, "acme"),
        ("Acme Limited", None, "acme"),
        ("Acme GmbH & Co. KG", None, "acme"),
        ("Acme S.A.", None, "acme"),
        ("Acme B.V.", None, "acme"),
        ("The Acme Company", None, "acme"),
        ("Société Générale SA", None, "societe generale"),
        ("Procter & Gamble Co.", None, "procter and gamble"),
        ("Acme Inc", "gmail.com", "acme"),
        ("Acme Inc", "gmx.com", "acme"),  # personal mail, as for the vendors' email kinds
        ("Acme Inc", "yahoo.co.uk", "acme"),
        ("Acme Inc", "https://acme.com/contact", "acme.com"),
        ("Inc", None, "inc"),
        (None, None, None),
        ("   ", "  ", None),
    ],
)
def test_company_key(company: str | None, domain: str | None, key: str | None) -> None:
    assert company_key(company, domain) == key


# --------------------------------------------------------------------------- #
# Agreement, suppression, invalid numbers
# --------------------------------------------------------------------------- #


def test_agreement_across_providers_adds_to_score() -> None:
    phones = classify_contact(
        "r1",
        [
            Obs("enrichlayer", GB_MOBILE_2),
            Obs("enrichlayer", dashed("GB")),
            Obs("crustdata", dashed("GB")),
            Obs("lantern", GB_MOBILE),
        ],
        ["GB"],
    )
    p = by_e164(phones)
    assert p[GB_MOBILE].sources == ["crustdata", "enrichlayer", "lantern"]
    assert p[GB_MOBILE].score - p[GB_MOBILE_2].score == 2 * AGREEMENT_BONUS
    assert choose_best(phones).e164 == GB_MOBILE


def test_same_provider_twice_counts_once() -> None:
    (phone,) = classify_contact("r1", [Obs("enrichlayer", GB_MOBILE), Obs("enrichlayer", dashed("GB"))], ["GB"])
    assert phone.source_count == 1 and phone.score == BASE_VALID + LIB_MOBILE_WEIGHT
    assert phone.raw_values == sorted({GB_MOBILE, dashed("GB")})


def test_suppressed_numbers_are_never_chosen() -> None:
    obs = [Obs("leadmagic", GB_MOBILE), Obs("enrichlayer", GB_FIXED)]
    phones = classify_contact("r1", obs, ["GB"], suppressed={GB_MOBILE})
    p = by_e164(phones)
    assert p[GB_MOBILE].suppressed and not p[GB_FIXED].suppressed
    best = choose_best(phones)
    assert best.e164 == GB_FIXED and status_of(best) == "phone_found"

    all_suppressed = classify_contact("r1", obs, ["GB"], suppressed={GB_MOBILE, GB_FIXED})
    assert len(all_suppressed) == 2
    assert choose_best(all_suppressed) is None
    assert status_of(choose_best(all_suppressed)) == "not_found"


def test_invalid_numbers_are_kept_but_never_chosen() -> None:
    phones = classify_contact(
        "r1",
        [
            Obs("leadmagic", "+1-555-123-4567"),
            Obs("pronto", "+1-555-123-4567", "mobile"),
            Obs("crustdata", "+1-555-0100"),
            Obs("lantern", "n/a"),
            Obs("lantern", "12-34"),
            Obs("enrichlayer", "1234"),
        ],
        [],
    )
    assert all(p.number_type == "invalid" and not p.valid for p in phones)
    assert all(p.score <= 0 and p.score == INVALID_SCORE for p in phones)
    assert all(not p.is_personal_mobile for p in phones)
    p = by_e164(phones)
    assert p["+15551234567"].sources == ["leadmagic", "pronto"]
    # Strings that give no E.164 are grouped by their digits.
    unparsed = sorted((ph.key, ph.sources) for ph in phones if ph.e164 is None)
    assert unparsed == [("digits:", ["lantern"]), ("digits:1234", ["enrichlayer", "lantern"])]
    assert choose_best(phones) is None
    assert status_of(None) == "not_found"

    # Next to a valid number, the valid one wins even with fewer sources.
    mixed = classify_contact("r1", [Obs("enrichlayer", GB_FIXED), *[Obs(p, "+44 12") for p in ("a", "b", "c")]], [])
    assert choose_best(mixed).e164 == GB_FIXED
    assert mixed[-1].number_type == "invalid"


def test_empty_values_are_not_numbers() -> None:
    assert classify_contact("r1", [Obs("lantern", ""), Obs("lantern", "   "), Obs("x", None)], ["US"]) == []  # type: ignore[arg-type]
    assert choose_best([]) is None


def test_extension_means_office_line() -> None:
    (phone,) = classify_contact("r1", [Obs("leadmagic", US_A + " ext. 12")], ["US"])
    assert phone.e164 == US_A and phone.has_extension and not phone.is_personal_mobile


def test_provider_names_are_normalized() -> None:
    (phone,) = classify_contact("r1", [Obs("leadmagic", GB_MOBILE), Obs(" Pronto", GB_MOBILE)], ["GB"])
    assert phone.sources == ["leadmagic", "pronto"]


# --------------------------------------------------------------------------- #
# Ranking and determinism
# --------------------------------------------------------------------------- #


def test_personal_mobile_beats_higher_scoring_other_number() -> None:
    providers = ["enrichlayer", "crustdata", "lantern", "pronto"]
    phones = classify_contact(
        "r1", [*(Obs(p, GB_FIXED) for p in providers), Obs("enrichlayer", US_A, None), Obs("pronto", US_B, "mobile")],
        ["GB"],
    )
    p = by_e164(phones)
    assert p[GB_FIXED].score > p[US_B].score
    assert choose_best(phones).e164 == US_B


def test_tie_break_by_provider_priority_then_e164() -> None:
    obs = [Obs("crustdata", GB_MOBILE), Obs("lantern", GB_MOBILE_2)]
    phones = classify_contact("r1", obs, ["GB"])
    assert phones[0].score == phones[1].score
    # default priority: the default waterfall order (lantern before crustdata)
    assert choose_best(phones).e164 == GB_MOBILE_2
    assert choose_best(phones, provider_priority=["crustdata", "lantern"]).e164 == GB_MOBILE
    # Unknown providers: fall back to the E.164 string
    same = classify_contact("r1", [Obs("x", GB_MOBILE_2), Obs("y", GB_MOBILE)], ["GB"])
    assert choose_best(same).e164 == min(GB_MOBILE, GB_MOBILE_2)


def test_source_count_breaks_score_ties() -> None:
    # Same score: a GB mobile from 1 provider with a vendor claim (1+3+2=6) vs from 3 providers (1+2+3=6).
    phones = classify_contact(
        "r1",
        [Obs("leadmagic", GB_MOBILE_2), *(Obs(p, GB_MOBILE) for p in ("crustdata", "enrichlayer", "lantern"))],
        ["GB"],
    )
    p = by_e164(phones)
    assert p[GB_MOBILE].score == p[GB_MOBILE_2].score
    assert choose_best(phones).e164 == GB_MOBILE


def test_results_are_deterministic() -> None:
    obs = [
        Obs("enrichlayer", GB_FIXED),
        Obs("leadmagic", dashed("GB")),
        Obs("pronto", GB_MOBILE_2, "mobile"),
        Obs("lantern", "garbage"),
        Obs("crustdata", "+44-7400-123456"),
    ]
    first = classify_contact("r1", obs, ["GB"])
    for _ in range(3):
        assert classify_contact("r1", list(reversed(obs)), ["GB"]) == first
    assert first[0].e164 == GB_MOBILE


# --------------------------------------------------------------------------- #
# Claims and the documented rules
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("claim", "normalized"),
    [("mobile", "mobile"), ("MOBILE", "mobile"), ("Cell", "mobile"), ("cell-phone", "mobile"),
     ("Land line", "fixed_line"), ("landline", "fixed_line"), ("work", "work"), ("", None), (None, None), (3, None)],
)  # fmt: skip
def test_normalize_claim(claim: object, normalized: str | None) -> None:
    assert normalize_claim(claim) == normalized


def test_docstring_states_every_constant_with_its_value() -> None:
    doc = score_mod.__doc__ or ""
    for name in ("BASE_VALID", "AGREEMENT_BONUS", "LIB_MOBILE_WEIGHT", "VENDOR_MOBILE_WEIGHT",
                 "SHARED_PENALTY", "EXTENSION_PENALTY", "INVALID_SCORE"):  # fmt: skip
        value = getattr(score_mod, name)
        assert re.search(rf"``{name}`` \({value:g}\)", doc), name
    for number_type, adjustment in score_mod.TYPE_ADJUSTMENT.items():
        label = {"fixed_line": "fixed line", "fixed_line_or_mobile": "fixed-line-or-mobile",
                 "personal_number": "personal number", "voip": "VoIP", "toll_free": "toll-free",
                 "shared_cost": "shared-cost", "uan": "UAN", "premium_rate": "premium-rate",
                 }.get(number_type, number_type)
        assert re.search(rf"{re.escape(label)}[^,]*? {adjustment:g}\b", " ".join(doc.split())), number_type


def test_shared_penalty_puts_switchboards_below_every_unshared_valid_number() -> None:
    worst_unshared = (
        BASE_VALID + min(score_mod.TYPE_ADJUSTMENT.values()) + score_mod.EXTENSION_PENALTY
    )
    best_shared = (
        BASE_VALID + 4 * AGREEMENT_BONUS + LIB_MOBILE_WEIGHT + VENDOR_MOBILE_WEIGHT + SHARED_PENALTY
    )
    assert best_shared < worst_unshared
    assert worst_unshared + SHARED_PENALTY > INVALID_SCORE  # invalid sorts below everything


def test_a_number_only_enrich_layer_returned_loses_a_tie() -> None:
    """Enrich Layer mixes company lines into a person's numbers: with no other evidence, another provider's wins."""
    from enrichment_assets.phones.score import COMPANY_LINE_SOURCE_PENALTY

    switchboard, direct = "+1-506-317-8384", "+1-506-227-1285"
    phones = classify_contact("r1", [Obs("enrichlayer", switchboard), Obs("crustdata", direct)], ["CA"])
    by_number = {p.e164: p for p in phones}
    assert by_number["+15063178384"].score == BASE_VALID + COMPANY_LINE_SOURCE_PENALTY
    assert by_number["+15062271285"].score == BASE_VALID
    assert choose_best(phones, ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"]).e164 == "+15062271285"

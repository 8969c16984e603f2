"""The README's scoring rules ("How the best phone is chosen"), pinned as numbers.

Every expected score here is written out by hand from the README: 1 for a valid number, +1 per extra
provider, +3 when libphonenumber says MOBILE, +2 when a vendor's mobile claim counts, the type
adjustments (VoIP/unknown -1, toll-free/shared cost/UAN/pager -2, premium rate/voicemail -3), -20 for a
number shared with colleagues, -2 for an extension, -0.5 for a number only Enrich Layer returned that is
not known to be a mobile. None of them is computed from the product's own constants, so changing a
weight in the code without changing the README fails here.
"""

from __future__ import annotations

import pytest

from enrichment_assets.phones import (
    LeadPhones,
    PhoneObservation,
    classify_contact,
    classify_many,
)

Obs = PhoneObservation

# Real numbers from libphonenumber's metadata, one per line type (checked in test_the_numbers_are_what_we_say).
GB_MOBILE = "+447400123456"
GB_FIXED = "+441212345678"
GB_TOLL_FREE = "+448001234567"
GB_PREMIUM = "+449012345678"
GB_VOIP = "+445612345678"
GB_PAGER = "+447640123456"
GB_UAN = "+445512345678"
GB_PERSONAL = "+447012345678"
DE_SHARED_COST = "+4918012345"
DE_VOICEMAIL = "+49177991234567"
US_NUMBER = "+12015550123"  # NANP: FIXED_LINE_OR_MOBILE to libphonenumber

LIBPHONENUMBER_TYPES = {
    GB_MOBILE: "MOBILE", GB_FIXED: "FIXED_LINE", GB_TOLL_FREE: "TOLL_FREE", GB_PREMIUM: "PREMIUM_RATE",
    GB_VOIP: "VOIP", GB_PAGER: "PAGER", GB_UAN: "UAN", GB_PERSONAL: "PERSONAL_NUMBER",
    DE_SHARED_COST: "SHARED_COST", DE_VOICEMAIL: "VOICEMAIL", US_NUMBER: "FIXED_LINE_OR_MOBILE",
}


def test_the_numbers_are_what_we_say() -> None:
    import phonenumbers

    for number, kind in LIBPHONENUMBER_TYPES.items():
        parsed = phonenumbers.parse(number, None)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) == getattr(phonenumbers.PhoneNumberType, kind), number


def one(observations: list[Obs], region: str = "GB") -> tuple[str, float, bool]:
    (phone,) = classify_contact("r1", observations, [region])
    return phone.number_type, phone.score, phone.is_personal_mobile


@pytest.mark.parametrize(
    ("observations", "region", "expected"),
    [
        # Rule 2: libphonenumber's MOBILE is +3; a vendor's mobile claim +2; both add up.
        pytest.param([Obs("lantern", GB_MOBILE)], "GB", ("mobile", 4.0, True), id="lib-mobile: 1+3"),
        pytest.param(
            [Obs("leadmagic", GB_MOBILE)], "GB", ("mobile", 6.0, True), id="lib-mobile+leadmagic-claim: 1+3+2"
        ),
        pytest.param([Obs("pronto", GB_MOBILE, "mobile")], "GB", ("mobile", 6.0, True), id="lib-mobile+pronto-claim"),
        # NANP: never a mobile on libphonenumber's word; a vendor's claim makes it one (+2).
        pytest.param([Obs("lantern", US_NUMBER)], "US", ("fixed_line_or_mobile", 1.0, False), id="nanp-no-claim: 1"),
        pytest.param([Obs("pronto", US_NUMBER, "mobile")], "US", ("mobile", 3.0, True), id="nanp+pronto-claim: 1+2"),
        pytest.param([Obs("leadmagic", US_NUMBER)], "US", ("mobile", 3.0, True), id="nanp+leadmagic: 1+2"),
        pytest.param(
            [Obs("pronto", US_NUMBER, "landline")],
            "US",
            ("fixed_line_or_mobile", 1.0, False),
            id="nanp+pronto-landline: 1",
        ),
        # Claims are a vote: one mobile against one landline does not count; two against one does.
        pytest.param(
            [Obs("leadmagic", US_NUMBER), Obs("pronto", US_NUMBER, "landline")],
            "US",
            ("fixed_line_or_mobile", 2.0, False),
            id="nanp-1-vs-1: 1+1",
        ),
        pytest.param(
            [Obs("leadmagic", US_NUMBER), Obs("pronto", US_NUMBER, "mobile"), Obs("lantern", US_NUMBER, "landline")],
            "US",
            ("mobile", 5.0, True),
            id="nanp-2-vs-1: 1+2+2",
        ),
        # A vendor calling a libphonenumber FIXED_LINE a mobile is wrong and ignored.
        pytest.param(
            [Obs("leadmagic", GB_FIXED)], "GB", ("fixed_line", 1.0, False), id="fixed+leadmagic: claim ignored"
        ),
        # Rule 4: +1 for each provider beyond the first.
        pytest.param(
            [Obs("lantern", GB_FIXED), Obs("crustdata", GB_FIXED)],
            "GB",
            ("fixed_line", 2.0, False),
            id="two-providers: 1+1",
        ),
        pytest.param(
            [Obs("lantern", GB_MOBILE), Obs("crustdata", GB_MOBILE), Obs("leadmagic", GB_MOBILE)],
            "GB",
            ("mobile", 8.0, True),
            id="three-providers-mobile: 1+2+3+2",
        ),
        # Type adjustments.
        pytest.param([Obs("lantern", GB_FIXED)], "GB", ("fixed_line", 1.0, False), id="fixed: 0"),
        pytest.param([Obs("lantern", GB_PERSONAL)], "GB", ("personal_number", 1.0, False), id="personal-number: 0"),
        pytest.param([Obs("lantern", GB_VOIP)], "GB", ("voip", 0.0, False), id="voip: -1"),
        pytest.param([Obs("lantern", GB_TOLL_FREE)], "GB", ("toll_free", -1.0, False), id="toll-free: -2"),
        pytest.param([Obs("lantern", DE_SHARED_COST)], "DE", ("shared_cost", -1.0, False), id="shared-cost: -2"),
        pytest.param([Obs("lantern", GB_UAN)], "GB", ("uan", -1.0, False), id="uan: -2"),
        pytest.param([Obs("lantern", GB_PAGER)], "GB", ("pager", -1.0, False), id="pager: -2"),
        pytest.param([Obs("lantern", GB_PREMIUM)], "GB", ("premium_rate", -2.0, False), id="premium-rate: -3"),
        pytest.param([Obs("lantern", DE_VOICEMAIL)], "DE", ("voicemail", -2.0, False), id="voicemail: -3"),
        # Rule 3: an extension is an office line, -2, never a personal mobile.
        pytest.param(
            [Obs("lantern", "+44 121 234 5678 ext. 12")], "GB", ("fixed_line", -1.0, False), id="extension: -2"
        ),
        # Enrich Layer alone and not known to be a mobile: -0.5; a mobile from it alone: no penalty.
        pytest.param([Obs("enrichlayer", GB_FIXED)], "GB", ("fixed_line", 0.5, False), id="enrichlayer-only: -0.5"),
        pytest.param(
            [Obs("enrichlayer", US_NUMBER)],
            "US",
            ("fixed_line_or_mobile", 0.5, False),
            id="enrichlayer-only-nanp: -0.5",
        ),
        pytest.param([Obs("enrichlayer", GB_MOBILE)], "GB", ("mobile", 4.0, True), id="enrichlayer-only-mobile: 1+3"),
        pytest.param(
            [Obs("enrichlayer", GB_FIXED), Obs("lantern", GB_FIXED)],
            "GB",
            ("fixed_line", 2.0, False),
            id="enrichlayer+another: no penalty",
        ),
    ],
)
def test_one_number_scores(observations: list[Obs], region: str, expected: tuple[str, float, bool]) -> None:
    assert one(observations, region) == expected


def test_unparseable_number_is_invalid_and_never_chosen() -> None:
    (phone,) = classify_contact("r1", [Obs("lantern", "12")], ["GB"])
    assert (phone.number_type, phone.is_personal_mobile) == ("invalid", False)
    assert phone.score < -20  # below a shared switchboard (README: kept with type invalid, never chosen)


def test_shared_number_takes_minus_20_and_is_no_personal_mobile() -> None:
    """Rule 3: a number returned for two people of one company is a switchboard, -20, claims ignored."""
    company = "acme.co.uk"
    result = classify_many([
        LeadPhones("a", [Obs("leadmagic", GB_MOBILE), Obs("lantern", GB_FIXED)], ["GB"], company),
        LeadPhones("b", [Obs("leadmagic", GB_MOBILE), Obs("enrichlayer", GB_TOLL_FREE)], ["GB"], company),
        LeadPhones("c", [Obs("enrichlayer", GB_TOLL_FREE)], ["GB"], company),
    ])
    a = {p.e164: p for p in result["a"]}
    # 1 + 3 (libphonenumber mobile) - 20: the vendor's claim (+2) does not count on a shared number.
    assert (a[GB_MOBILE].score, a[GB_MOBILE].is_personal_mobile, a[GB_MOBILE].shared_with_others) == (
        -16.0,
        False,
        True,
    )
    assert (a[GB_FIXED].score, a[GB_FIXED].shared_with_others) == (1.0, False)
    assert result["a"][0].e164 == GB_FIXED  # the unshared line wins over the shared "mobile"
    b = {p.e164: p for p in result["b"]}
    # Toll-free from Enrich Layer only, shared: 1 - 2 - 0.5 - 20.
    assert b[GB_TOLL_FREE].score == -21.5


def test_best_phone_order_by_the_readme() -> None:
    """Rule 6: personal mobile first, then the best unshared number, shared switchboards last."""
    company = "acme.co.uk"
    result = classify_many([
        LeadPhones("a", [Obs("enrichlayer", GB_FIXED), Obs("enrichlayer", GB_MOBILE), Obs("lantern", GB_VOIP)],
                   ["GB"], company),
        LeadPhones("b", [Obs("enrichlayer", GB_FIXED)], ["GB"], company),
    ])
    assert [(p.e164, p.score) for p in result["a"]] == [
        (GB_MOBILE, 4.0),          # personal mobile: 1 + 3
        (GB_VOIP, 0.0),            # unshared: 1 - 1
        (GB_FIXED, -19.5),         # shared with b: 1 - 0.5 - 20
    ]


def test_unknown_line_type_takes_minus_1() -> None:
    """A valid number whose type libphonenumber cannot name never comes out of parsing; the rule still holds."""
    from enrichment_assets.phones.score import evaluate

    assert evaluate(lib_type="unknown", valid=True, source_count=1, vendor_claims_mobile=False,
                    shared_with_others=False) == ("unknown", 0.0, False)
    assert evaluate(lib_type="unknown", valid=True, source_count=2, vendor_claims_mobile=True,
                    shared_with_others=False) == ("unknown", 1.0, False)

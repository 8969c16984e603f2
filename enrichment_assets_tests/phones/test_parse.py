from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from enrichment_assets.phones import NUMBER_TYPES, parse_phone, region_from_domain, region_hints
from enrichment_assets.phones.parse import normalize_region

from .helpers import REGIONS, dashed, e164, fixed_of, international, mobile_of, national

NANP = ("US", "CA")


@pytest.mark.parametrize("region", REGIONS)
def test_e164_mobile_parses_without_hint(region: str) -> None:
    parsed = parse_phone(mobile_of(region), ())
    assert parsed.valid
    assert parsed.e164 == mobile_of(region)
    assert parsed.region == region
    expected = "fixed_line_or_mobile" if region in NANP else "mobile"
    assert parsed.number_type == expected


@pytest.mark.parametrize("region", REGIONS)
def test_fixed_line_type(region: str) -> None:
    parsed = parse_phone(fixed_of(region), ())
    assert parsed.valid and parsed.region == region
    # libphonenumber cannot tell NANP (and some Indian) fixed lines from mobiles
    expected = "fixed_line_or_mobile" if region in (*NANP, "IN") else "fixed_line"
    assert parsed.number_type == expected


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("kind", [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
def test_vendor_formats_normalize_to_same_e164(region: str, kind: int) -> None:
    want = e164(region, kind)
    for raw in (
        dashed(region, kind),
        international(region, kind),
        f"  {international(region, kind)}  ",
        "tel:" + want,
        international(region, kind).replace(" ", "."),
    ):
        parsed = parse_phone(raw, ())
        assert parsed.e164 == want, raw
        assert parsed.valid
        assert parsed.raw == raw


def test_leadmagic_and_crustdata_dashed_examples() -> None:
    # Shapes from the vendor docs: +1-555-123-4567 (LeadMagic), +1-555-0100 (Crustdata).
    # 555 numbers are fictional: they parse, are not valid, and keep their E.164.
    lm = parse_phone("+1-555-123-4567", ("US",))
    assert (lm.e164, lm.valid, lm.number_type, lm.region) == ("+15551234567", False, "invalid", None)
    cd = parse_phone("+1-555-0100", ())
    assert (cd.e164, cd.valid, cd.number_type) == ("+15550100", False, "invalid")
    us = parse_phone(dashed("US"), ())
    assert us.valid and us.e164 == mobile_of("US")


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("kind", [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
def test_national_format_needs_hint(region: str, kind: int) -> None:
    raw = national(region, kind)
    assert parse_phone(raw, (region,)).e164 == e164(region, kind)
    assert parse_phone(raw, (region.lower(),)).e164 == e164(region, kind)
    assert parse_phone(raw, (None, "", "XX", region)).e164 == e164(region, kind)
    no_hint = parse_phone(raw, ())
    assert (no_hint.e164, no_hint.valid, no_hint.number_type) == (None, False, "invalid")
    # A hint of the wrong country does not turn it into that country's valid number.
    wrong = "DE" if region != "DE" else "FR"
    assert parse_phone(raw, (wrong,)).e164 != e164(region, kind)


def test_hints_tried_in_order_first_valid_wins() -> None:
    gb_national = national("GB")  # 07400 123456
    assert parse_phone(gb_national, ("GB", "DE")).region == "GB"
    # Lead country FR: the national GB number is not valid in FR, so the domain hint GB wins.
    assert parse_phone(gb_national, ("FR", "GB")).e164 == mobile_of("GB")
    # Invalid under every hint: keeps the first hint's reading, flagged invalid.
    bad = parse_phone("0123", ("DE", "GB"))
    assert not bad.valid and bad.number_type == "invalid"


def test_domain_hint_parses_national_number() -> None:
    hints = region_hints(None, "www.acme.de")
    assert hints == ("DE",)
    parsed = parse_phone(national("DE", PhoneNumberType.FIXED_LINE), hints)
    assert parsed.e164 == fixed_of("DE") and parsed.number_type == "fixed_line"
    assert region_hints("fr", "acme.co.uk") == ("FR", "GB")
    assert region_hints("GB", "acme.co.uk") == ("GB",)
    assert region_hints(None, "acme.com") == ()
    assert region_hints("UK", None) == ("GB",)


@pytest.mark.parametrize(
    ("domain", "region"),
    [
        ("acme.de", "DE"),
        ("ACME.DE", "DE"),
        ("acme.co.uk", "GB"),
        ("acme.uk", "GB"),
        ("acme.fr", "FR"),
        ("acme.com.au", "AU"),
        ("acme.au", "AU"),
        ("acme.ca", "CA"),
        ("acme.in", "IN"),
        ("acme.co.in", "IN"),
        ("acme.es", "ES"),
        ("acme.nl", "NL"),
        ("acme.com.br", "BR"),
        ("acme.br", "BR"),
        ("https://www.acme.com.au/about?x=1", "AU"),
        ("jane@acme.fr", "FR"),
        ("acme.de.", "DE"),
        ("acme.ca:443", "CA"),
        ("acme.com.co", "CO"),
        ("acme.com", None),
        ("acme.org", None),
        ("acme.io", None),
        ("acme.ai", None),
        ("acme.co", None),
        ("acme.eu", None),
        ("acme.tech", None),
        ("localhost", None),
        ("", None),
        (None, None),
        ("de", None),
    ],
)
def test_region_from_domain(domain: str | None, region: str | None) -> None:
    assert region_from_domain(domain) == region


def test_extensions_are_split_off() -> None:
    base = fixed_of("US")
    for raw in (f"{base} ext. 12", f"{base} x12", f"tel:{base};ext=12", f"{international('US', 1)} #12"):
        parsed = parse_phone(raw, ())
        assert parsed.e164 == base, raw
        assert parsed.extension == "12", raw
    assert parse_phone(base, ()).extension is None


def test_trunk_zero_in_international_format() -> None:
    assert parse_phone("+44 (0) 7400 123456", ()).e164 == mobile_of("GB")
    assert parse_phone("+49 (0)30 123456", ()).e164 == fixed_of("DE")


def test_international_prefix_00_and_missing_plus() -> None:
    assert parse_phone("0049 30 123456", ()).e164 == fixed_of("DE")
    assert parse_phone("00 44 7400 123456", ("US",)).e164 == mobile_of("GB")
    assert parse_phone(mobile_of("GB")[1:], ()).e164 == mobile_of("GB")  # 447400123456
    assert parse_phone(mobile_of("US")[1:], ()).e164 == mobile_of("US")  # 12015550123
    # A 10-digit US national number without a hint is not guessed.
    assert parse_phone("2015550123", ()).e164 is None


def test_non_geographic_numbers() -> None:
    parsed = parse_phone("+800 1234 5678", ())
    assert parsed.valid and parsed.number_type == "toll_free" and parsed.region is None


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "n/a", "+", "++++", "abc", "unknown", "0", "+0", "+999 123", "-", "()", "tel:", "x" * 1000, "1" * 300,
     "+1" + "2" * 40, "\x00\x01", "☎️", "٠١٢٣"],
)
def test_garbage_never_raises(raw: str) -> None:
    parsed = parse_phone(raw, ("US", None, "??"))
    assert parsed.raw == raw
    assert not parsed.valid and parsed.number_type == "invalid"
    assert parsed.region is None


@pytest.mark.parametrize("raw", [None, 12015550123, 3.5, b"+12015550123", ["+1"]])
def test_non_string_input_never_raises(raw: object) -> None:
    parsed = parse_phone(raw, ("US",))  # type: ignore[arg-type]
    assert not parsed.valid and parsed.e164 is None and parsed.number_type == "invalid"


@pytest.mark.parametrize("hints", [None, "US", 5, [5, None, object()], ("us",), ["ZZ", "001"]])
def test_odd_hints_never_raise(hints: object) -> None:
    parsed = parse_phone(mobile_of("GB"), hints)  # type: ignore[arg-type]
    assert parsed.valid and parsed.e164 == mobile_of("GB")


def test_invalid_but_parseable_keeps_e164_and_round_trips() -> None:
    parsed = parse_phone("+44 12", ())
    if parsed.e164 is not None:
        back = phonenumbers.parse(parsed.e164, None)
        assert phonenumbers.format_number(back, phonenumbers.PhoneNumberFormat.E164) == parsed.e164
    assert parsed.number_type == "invalid"


def test_number_types_vocabulary() -> None:
    assert set(NUMBER_TYPES) == {
        "mobile", "fixed_line", "fixed_line_or_mobile", "toll_free", "voip", "premium_rate", "shared_cost",
        "personal_number", "pager", "uan", "voicemail", "unknown", "invalid",
    }  # fmt: skip


def test_parse_is_memoized() -> None:
    raw = international("FR")
    first = parse_phone(raw, ("FR",))
    assert parse_phone(raw, ["fr", None]) is first  # same normalized hints -> same cache entry


def test_normalize_region() -> None:
    assert normalize_region("gb") == "GB"
    assert normalize_region("UK") == "GB"
    assert normalize_region("XX") is None
    assert normalize_region(None) is None


def test_type_and_validity_match_public_libphonenumber_api_for_every_region() -> None:
    """parse_phone shares one region lookup between validity and type: same answers as the public API."""
    names = {v: k for k, v in vars(PhoneNumberType).items() if k.isupper()}
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in names:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for number in (example, phonenumbers.PhoneNumber(country_code=example.country_code,
                                                              national_number=example.national_number // 10)):
                raw = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                parsed = parse_phone(raw, ())
                reparsed = phonenumbers.parse(raw, None)
                assert parsed.valid == phonenumbers.is_valid_number(reparsed), raw
                if parsed.valid:
                    assert parsed.number_type == names[phonenumbers.number_type(reparsed)].lower(), raw
                    assert parsed.region == phonenumbers.region_code_for_number(reparsed), raw
                checked += 1
    assert checked > 1000
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is None:
            continue
        parsed = parse_phone(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), ())
        assert parsed.valid and parsed.region is None
        assert parsed.number_type == names[phonenumbers.number_type(example)].lower()

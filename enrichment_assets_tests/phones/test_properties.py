"""Property tests: parsing never raises, E.164 round-trips, ranking is order-independent."""

from __future__ import annotations

import os

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from enrichment_assets.masking import mask_phone
from enrichment_assets.phones import (
    NUMBER_TYPES,
    LeadPhones,
    PhoneObservation,
    choose_best,
    classify_contact,
    classify_many,
    parse_phone,
    rank_phones,
    region_from_domain,
)
from enrichment_assets.vendors.registry import PROVIDER_NAMES

from .helpers import REGIONS, dashed, fixed_of, mobile_of, national, status_of

SETTINGS = settings(
    max_examples=int(os.environ.get("PHONES_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TYPE_NAMES = {v: k.lower() for k, v in vars(phonenumbers.PhoneNumberType).items() if k.isupper()}

PROVIDERS = list(PROVIDER_NAMES)

hints_strategy = st.lists(
    st.one_of(st.none(), st.sampled_from([*REGIONS, "uk", "zz", "001", ""]), st.text(max_size=4)), max_size=4
)
phoneish_text = st.text(alphabet="+0123456789 -().x#;ext=tel:/", max_size=40)
digit_runs = st.builds(
    lambda plus, digits, sep: ("+" if plus else "") + sep.join(digits),
    st.booleans(),
    st.lists(st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=5),
    st.sampled_from(["", " ", "-", ".", ") ("]),
)
any_raw = st.one_of(st.text(max_size=60), phoneish_text, digit_runs)

# A pool of realistic raw values: real examples in several formats, invalid and garbage.
POOL = sorted(
    {
        *(mobile_of(r) for r in REGIONS),
        *(fixed_of(r) for r in REGIONS),
        *(dashed(r) for r in REGIONS),
        *(national(r) for r in ("GB", "DE", "US")),
        "+1-555-123-4567",
        "+1-555-0100",
        "garbage",
        "12-34",
        mobile_of("US") + " x12",
    }
)
observation = st.builds(
    PhoneObservation,
    st.sampled_from(PROVIDERS),
    st.sampled_from(POOL),
    st.sampled_from([None, "mobile", "landline", "work", "Cell"]),
)
observations = st.lists(observation, max_size=8)
lead_hints = st.lists(st.sampled_from([None, *REGIONS]), max_size=2)


@SETTINGS
@given(raw=any_raw, hints=hints_strategy)
def test_parse_never_raises_and_is_consistent(raw: str, hints: list[object]) -> None:
    parsed = parse_phone(raw, hints)  # type: ignore[arg-type]
    assert parsed.raw == raw
    assert parsed.number_type in NUMBER_TYPES
    if parsed.valid:
        assert parsed.e164 is not None and parsed.number_type != "invalid"
    else:
        assert parsed.number_type == "invalid" and parsed.region is None
    if parsed.e164 is not None:
        back = phonenumbers.parse(parsed.e164, None)
        assert phonenumbers.format_number(back, PhoneNumberFormat.E164) == parsed.e164
        assert phonenumbers.is_valid_number(back) == parsed.valid
        if parsed.valid:
            assert parsed.number_type == TYPE_NAMES[phonenumbers.number_type(back)]
            region = phonenumbers.region_code_for_number(back)
            assert parsed.region == (None if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region)
        assert 2 <= len(parsed.e164) <= 16 and parsed.e164[1:].isdigit()
        # The E.164 form parses to itself.
        assert parse_phone(parsed.e164, ()).e164 == parsed.e164


@SETTINGS
@given(raw=st.one_of(st.none(), st.integers(), st.binary(max_size=10)), hints=st.one_of(st.none(), hints_strategy))
def test_parse_never_raises_on_non_strings(raw: object, hints: object) -> None:
    parsed = parse_phone(raw, hints)  # type: ignore[arg-type]
    assert not parsed.valid and parsed.number_type == "invalid"


@SETTINGS
@given(value=st.one_of(any_raw, st.none()), domain=st.one_of(st.none(), st.text(max_size=30)))
def test_mask_and_domain_never_raise(value: str | None, domain: str | None) -> None:
    masked = mask_phone(value)
    assert sum(c.isdigit() for c in masked) <= 2
    region = region_from_domain(domain)
    assert region is None or (len(region) == 2 and region.isupper())


@SETTINGS
@given(obs=observations, hints=lead_hints, data=st.data())
def test_classification_is_order_independent(
    obs: list[PhoneObservation], hints: list[str | None], data: st.DataObject
) -> None:
    e164s = sorted({p.e164 for o in obs if (p := parse_phone(o.raw, hints)).e164})
    shared = set(data.draw(st.lists(st.sampled_from(e164s), max_size=2))) if e164s else set()
    suppressed = set(data.draw(st.lists(st.sampled_from(e164s), max_size=2))) if e164s else set()
    shuffled = data.draw(st.permutations(obs))

    first = classify_contact("r", obs, hints, shared, suppressed)
    second = classify_contact("r", shuffled, hints, shared, suppressed)
    assert first == second
    assert choose_best(first) == choose_best(list(reversed(second)))
    assert rank_phones(list(reversed(first))) == first
    assert len({p.key for p in first}) == len(first)


@SETTINGS
@given(obs=observations, hints=lead_hints, data=st.data())
def test_choose_best_never_returns_invalid_suppressed_or_shared(
    obs: list[PhoneObservation], hints: list[str | None], data: st.DataObject
) -> None:
    e164s = sorted({p.e164 for o in obs if (p := parse_phone(o.raw, hints)).e164})
    suppressed = set(data.draw(st.lists(st.sampled_from(e164s), max_size=3))) if e164s else set()
    shared = set(data.draw(st.lists(st.sampled_from(e164s), max_size=3))) if e164s else set()
    phones = classify_contact("r", obs, hints, shared, suppressed)
    best = choose_best(phones)
    status = status_of(best)
    choosable = [p for p in phones if p.valid and not p.suppressed and not p.shared_with_others]
    if best is None:
        assert not choosable and status == "not_found"
        return
    assert best.valid and best.number_type != "invalid" and best.e164 is not None
    assert best.e164 not in suppressed and not best.suppressed
    assert best.e164 not in shared and not best.shared_with_others
    if any(p.is_personal_mobile for p in choosable):
        assert best.is_personal_mobile and status == "mobile_found"
    else:
        assert status == "phone_found"
    for p in phones:
        if p.number_type == "invalid":
            assert p.score <= 0 and not p.is_personal_mobile
        if p.shared_with_others:
            assert not p.is_personal_mobile
        if p.number_type == "fixed_line_or_mobile":
            assert not p.is_personal_mobile


@SETTINGS
@given(
    leads=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["acme.com", "other.de", None]), observations),
        max_size=6,
    ),
    data=st.data(),
)
def test_classify_many_is_order_independent(
    leads: list[tuple[str, str | None, list[PhoneObservation]]], data: st.DataObject
) -> None:
    # one company per record id, as in a real list
    company = {rid: key for rid, key, _ in leads}
    items = [LeadPhones(rid, obs, ["US"], company[rid]) for rid, _, obs in leads]
    shuffled = data.draw(st.permutations(items))
    assert classify_many(items) == classify_many(shuffled)

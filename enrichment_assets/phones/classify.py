"""Merge every provider's numbers for one contact into classified phones.

The input is what the providers returned (:class:`~enrichment_assets.phones.model.PhoneObservation`: which
provider, the raw string, the provider's own line-type claim if any); the output is one
:class:`~enrichment_assets.phones.model.ContactPhone` per distinct E.164 number, ready for the
``contact_phones`` table. The rules that decide type, score and "personal mobile" are in
:mod:`enrichment_assets.phones.score`; which numbers are shared by colleagues is decided before
(:mod:`enrichment_assets.phones.companies`) and passed in.

:func:`classify_many` does both for a whole list held in memory, parsing every raw string once; the pipeline
streams lists instead (``contacts/merge.py``).
"""

from __future__ import annotations

import re
from collections.abc import Container, Hashable, Iterable, Sequence

from enrichment_assets.phones.companies import (
    find_shared_numbers,
    shared_numbers_by_company,
)
from enrichment_assets.phones.model import ContactPhone, LeadPhones, PhoneObservation
from enrichment_assets.phones.parse import (
    ParsedPhone,
    _parse_cached,
    digits_of,
    normalize_hints,
    parse_phone,
)
from enrichment_assets.phones.score import COMPANY_LINE_SOURCES, evaluate, rank_phones

__all__ = [
    "IMPLIED_CLAIMS",
    "MOBILE_CLAIMS",
    "NON_MOBILE_CLAIMS",
    "classify_contact",
    "classify_many",
    "distinct_numbers",
    "normalize_claim",
]


# --------------------------------------------------------------------------- #
# Vendor claims
# --------------------------------------------------------------------------- #

#: Vendor line-type words read as "this is a mobile".
MOBILE_CLAIMS: frozenset[str] = frozenset(
    {
        "mobile", "mobile_phone", "mobile_number", "personal_mobile", "cell",
        "cellular", "cell_phone", "cellphone", "wireless", "gsm", "handy",
    }
)  # fmt: skip

#: Vendor line-type words read as "this is not a mobile" (normalized forms).
NON_MOBILE_CLAIMS: frozenset[str] = frozenset(
    {
        "fixed_line", "landline", "land_line", "fixed", "fixedline", "office",
        "switchboard", "main", "main_line", "hq", "headquarters", "company",
        "toll_free", "tollfree", "voip", "fax", "pager",
    }
)  # fmt: skip

_CLAIM_CANONICAL: dict[str, str] = {
    **dict.fromkeys(MOBILE_CLAIMS, "mobile"),
    "landline": "fixed_line",
    "land_line": "fixed_line",
    "fixed": "fixed_line",
    "fixedline": "fixed_line",
    "tollfree": "toll_free",
    "main_line": "main",
}

#: Claims implied by a provider's endpoint when it gives no type itself:
#: LeadMagic's mobile finder only ever returns mobiles.
IMPLIED_CLAIMS: dict[str, str] = {"leadmagic": "mobile"}

_CLAIM_SEPARATORS = re.compile(r"[\s\-/.]+")


def normalize_claim(claimed_type: object) -> str | None:
    """A vendor's line-type word in canonical form (``"Cell"`` → ``"mobile"``)."""
    if not isinstance(claimed_type, str):
        return None
    word = _CLAIM_SEPARATORS.sub("_", claimed_type.strip().lower()).strip("_")
    if not word:
        return None
    return _CLAIM_CANONICAL.get(word, word)


# --------------------------------------------------------------------------- #
# Classification
# --------------------------------------------------------------------------- #

_Parsed = list[tuple[PhoneObservation, ParsedPhone]]


def _normalized(obs: PhoneObservation) -> PhoneObservation | None:
    if not isinstance(obs.raw, str) or not obs.raw.strip():
        return None  # an empty value is "no number", not an invalid number
    provider = obs.provider.strip().lower() if isinstance(obs.provider, str) else ""
    return PhoneObservation(provider, obs.raw, obs.claimed_type)


def _parse_all(observations: Iterable[PhoneObservation], hints: tuple[str, ...]) -> _Parsed:
    parsed: _Parsed = []
    for item in observations:
        obs = _normalized(item)
        if obs is not None:
            try:
                phone = _parse_cached(obs.raw, hints)  # hints are normalized already
            except Exception:  # pragma: no cover - defensive, as parse_phone  # noqa: BLE001
                phone = parse_phone(obs.raw, hints)
            parsed.append((obs, phone))
    return parsed


def _classify_parsed(
    record_id: str,
    parsed: _Parsed,
    shared_numbers: Container[str],
    suppressed: Container[str],
    provider_priority: Sequence[str] | None,
) -> list[ContactPhone]:
    groups: dict[str, list[tuple[PhoneObservation, ParsedPhone]]] = {}
    for obs, phone in parsed:
        key = phone.e164 if phone.e164 is not None else "digits:" + digits_of(obs.raw)
        groups.setdefault(key, []).append((obs, phone))

    phones: list[ContactPhone] = []
    for members in groups.values():
        parsed_phone = members[0][1]
        e164 = parsed_phone.e164
        valid = all(p.valid for _, p in members)
        lib_type = parsed_phone.number_type if valid else "invalid"
        region = parsed_phone.region if valid else None

        sources = sorted({obs.provider for obs, _ in members})
        claims_by_provider: dict[str, set[str]] = {}
        for obs, _ in members:
            claim = normalize_claim(obs.claimed_type)
            if claim is None:
                claim = IMPLIED_CLAIMS.get(obs.provider)
            if claim is not None:
                claims_by_provider.setdefault(obs.provider, set()).add(claim)
        mobile_votes = sum(1 for c in claims_by_provider.values() if "mobile" in c)
        against_votes = sum(1 for c in claims_by_provider.values() if c & NON_MOBILE_CLAIMS)
        vendor_claims_mobile = mobile_votes > against_votes

        shared = e164 is not None and e164 in shared_numbers
        has_extension = any(p.extension for _, p in members)
        number_type, score, personal_mobile = evaluate(
            lib_type=lib_type,
            valid=valid,
            source_count=len(sources),
            vendor_claims_mobile=vendor_claims_mobile,
            shared_with_others=shared,
            has_extension=has_extension,
            only_company_line_sources=bool(sources) and set(sources) <= COMPANY_LINE_SOURCES,
        )
        phones.append(
            ContactPhone(
                record_id=record_id,
                e164=e164,
                number_type=number_type,
                region=region,
                sources=sources,
                source_count=len(sources),
                claimed_types=sorted(set().union(*claims_by_provider.values())),
                shared_with_others=shared,
                suppressed=e164 is not None and e164 in suppressed,
                score=score,
                is_personal_mobile=personal_mobile,
                valid=valid,
                has_extension=has_extension,
                raw_values=sorted({obs.raw for obs, _ in members}),
            )
        )
    return rank_phones(phones, provider_priority)


def distinct_numbers(observations: Iterable[PhoneObservation], region_hints: Sequence[str | None] = ()) -> set[str]:
    """The distinct valid-or-not E.164 numbers a contact's observations parse to (for finding shared numbers)."""
    parsed = _parse_all(observations, normalize_hints(region_hints))
    return {p.e164 for _, p in parsed if p.e164 is not None}


def classify_contact(
    record_id: str,
    observations: Iterable[PhoneObservation],
    region_hints: Sequence[str | None] = (),
    shared_numbers: Container[str] = frozenset(),
    suppressed: Container[str] = frozenset(),
    provider_priority: Sequence[str] | None = None,
) -> list[ContactPhone]:
    """One :class:`ContactPhone` per distinct number of one contact, best first.

    ``observations`` are every provider's numbers for the contact (empty raw
    values are skipped); ``region_hints`` the lead's country then the company
    domain's country; ``shared_numbers`` the E.164 numbers also returned for
    other people of the same company (see :func:`find_shared_numbers`);
    ``suppressed`` the E.164 numbers on the do-not-contact list. The result is
    independent of the order of ``observations``; its first element is
    ``choose_best``'s answer when that one is not ``None``.
    """
    parsed = _parse_all(observations, normalize_hints(region_hints))
    return _classify_parsed(record_id, parsed, shared_numbers, suppressed, provider_priority)


def classify_many(
    leads: Iterable[LeadPhones],
    suppressed: Container[str] = frozenset(),
    provider_priority: Sequence[str] | None = None,
) -> dict[str, list[ContactPhone]]:
    """Classify a whole list: find shared numbers, then classify each lead.

    Every raw string is parsed once. Returns ``{record_id: phones best first}``
    for every lead (an empty list for a lead without numbers).
    """
    staged: dict[str, tuple[LeadPhones, _Parsed]] = {}
    rows: list[tuple[Hashable, str | None, str | None]] = []
    for lead in leads:
        parsed = _parse_all(lead.observations, normalize_hints(lead.region_hints))
        if lead.record_id in staged:  # the same record twice: one contact
            first, earlier = staged[lead.record_id]
            earlier.extend(parsed)
            lead = first
        else:
            staged[lead.record_id] = (lead, parsed)
        if lead.company_key:
            person = lead.person_key if lead.person_key is not None else lead.record_id
            for e164 in {p.e164 for _, p in parsed if p.e164 is not None}:
                rows.append((person, lead.company_key, e164))
    shared_by_company = shared_numbers_by_company(find_shared_numbers(rows))
    del rows

    empty: frozenset[str] = frozenset()
    result: dict[str, list[ContactPhone]] = {}
    for record_id, (lead, parsed) in staged.items():
        shared = shared_by_company.get(lead.company_key, empty) if lead.company_key else empty
        result[record_id] = _classify_parsed(record_id, parsed, shared, suppressed, provider_priority)
    return result

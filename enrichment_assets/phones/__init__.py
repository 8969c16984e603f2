"""Phone normalization, classification and scoring (pure Python, no Dagster).

* :mod:`.parse`: raw vendor strings → E.164, line type, country
  (:func:`parse_phone`, :func:`region_from_domain`, :func:`mask_phone`).
* :mod:`.classify`: one contact's numbers from all providers → one
  :class:`ContactPhone` per distinct number; switchboard detection across a
  list (:func:`find_shared_numbers`, :func:`company_key`).
* :mod:`.score`: the scoring rules, :func:`choose_best`, :func:`contact_status`.
  Its module docstring is the plain-language statement of the rules.
"""

from __future__ import annotations

from enrichment_assets.phones.classify import (
    ContactPhone,
    LeadPhones,
    PhoneObservation,
    classify_contact,
    classify_many,
    company_key,
    find_shared_numbers,
    normalize_claim,
    shared_numbers_by_company,
)
from enrichment_assets.phones.parse import (
    NUMBER_TYPES,
    ParsedPhone,
    mask_phone,
    parse_phone,
    region_from_domain,
    region_hints,
)
from enrichment_assets.phones.score import (
    STATUS_MOBILE_FOUND,
    STATUS_NOT_FOUND,
    STATUS_PHONE_FOUND,
    choose_best,
    contact_status,
    rank_phones,
)

__all__ = [
    "NUMBER_TYPES",
    "STATUS_MOBILE_FOUND",
    "STATUS_NOT_FOUND",
    "STATUS_PHONE_FOUND",
    "ContactPhone",
    "LeadPhones",
    "ParsedPhone",
    "PhoneObservation",
    "choose_best",
    "classify_contact",
    "classify_many",
    "company_key",
    "contact_status",
    "find_shared_numbers",
    "mask_phone",
    "normalize_claim",
    "parse_phone",
    "rank_phones",
    "region_from_domain",
    "region_hints",
    "shared_numbers_by_company",
]

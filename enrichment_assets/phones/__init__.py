"""Phone normalization, classification and scoring (pure Python, no Dagster).

* :mod:`.parse`: raw vendor strings → E.164, line type, country
  (:func:`parse_phone`); :mod:`.regions`: which countries
  to read a national number in (:func:`region_hints`, :func:`region_from_domain`).
* :mod:`.model`: the shared types (:class:`PhoneObservation`,
  :class:`ContactPhone`, :class:`LeadPhones`).
* :mod:`.companies`: company identity (:func:`company_key`) and numbers shared
  by colleagues (:func:`find_shared_numbers`).
* :mod:`.classify`: one contact's numbers from all providers → one
  :class:`ContactPhone` per distinct number.
* :mod:`.score`: the scoring rules and :func:`choose_best`. Its module
  docstring is the plain-language statement of the rules.

Imports go one way: regions → parse → model → score → classify; companies needs regions only.
"""

from __future__ import annotations

from enrichment_assets.phones.classify import classify_contact, classify_many, normalize_claim
from enrichment_assets.phones.companies import company_key, find_shared_numbers, shared_numbers_by_company
from enrichment_assets.phones.model import ContactPhone, LeadPhones, PhoneObservation
from enrichment_assets.phones.parse import NUMBER_TYPES, ParsedPhone, parse_phone
from enrichment_assets.phones.regions import region_from_domain, region_hints
from enrichment_assets.phones.score import choose_best, rank_phones

__all__ = [
    "NUMBER_TYPES",
    "ContactPhone",
    "LeadPhones",
    "ParsedPhone",
    "PhoneObservation",
    "choose_best",
    "classify_contact",
    "classify_many",
    "company_key",
    "find_shared_numbers",
    "normalize_claim",
    "parse_phone",
    "rank_phones",
    "region_from_domain",
    "region_hints",
    "shared_numbers_by_company",
]

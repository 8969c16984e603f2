"""Namesakes: two different people with the same first and last name at the same company.

A vendor that matches by name + company first (Lantern, by its document) cannot tell them apart: both leads get
the answer of whichever of the two it has on file first, so one lead pays for, and may be given, someone else's
number. Knowing which leads have a namesake among every lead the project holds (any list) lets a client ask for
those by an identifier that is the person's alone.

Two leads are the same person when they share a LinkedIn profile or an email (a person in two lists is not a
namesake of themselves); otherwise each lead is its own person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.identity import company_key, domain_key, name_key


def name_keys(lead: Lead) -> list[tuple[str, str, str, str]]:
    """The lead's name at its company and at its domain, as the vendors' matching reads them (without case,
    punctuation or legal form: ``vendors/identity.py``, the same keys as the request fingerprints); none without
    a first and last name."""
    first, last = name_key(lead.first_name), name_key(lead.last_name)
    if not (first and last):
        return []
    keys = []
    company, domain = company_key(lead.company), domain_key(lead.domain)
    if company:
        keys.append(("company", first, last, company))
    if domain:
        keys.append(("domain", first, last, domain))
    return keys


def person_of(lead: Lead) -> str:
    """Who the lead is, as far as telling namesakes apart goes."""
    if lead.linkedin_slug:
        return "in:" + lead.linkedin_slug.casefold()
    if lead.email:
        return "email:" + lead.email.casefold()
    return f"lead:{lead.list_id}\x1f{lead.record_id}"


@dataclass(frozen=True)
class Namesakes:
    """The name keys shared by more than one person."""

    shared: frozenset[tuple[str, str, str, str]] = field(default_factory=frozenset)

    @classmethod
    def from_leads(cls, leads: Iterable[Lead]) -> Namesakes:
        people: dict[tuple[str, str, str, str], set[str]] = {}
        for lead in leads:
            who = person_of(lead)
            for key in name_keys(lead):
                people.setdefault(key, set()).add(who)
        return cls(frozenset(key for key, who in people.items() if len(who) > 1))

    def has_namesake(self, lead: Lead) -> bool:
        return any(key in self.shared for key in name_keys(lead))

    def __len__(self) -> int:
        return len(self.shared)

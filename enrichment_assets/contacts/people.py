"""Who is the same person across leads, lists and record ids (for telling colleagues from duplicates).

A lead's identity is its canonical LinkedIn URL when it has one, else its normalized email, else its
``fingerprint`` (the hash of its normalized identifying fields, record_id excluded): the same person under two
record ids in two lists is one person. A lead that carries both a LinkedIn URL and an email also ties the two
together, so the same person with a LinkedIn URL in one list and only the email in another is one person too.

Identities are stored hashed (``number_evidence`` is bookkeeping; it need not repeat emails and profile URLs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from enrichment_assets.leads.model import Lead


def _hashed(kind: str, value: str) -> str:
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=12).hexdigest()


def person_keys(lead: Lead) -> tuple[str, str | None]:
    """``(person_key, alias_key)``: the lead's identity (LinkedIn URL, else email, else fingerprint) and, when it
    has both, the email as a second name for the same person."""
    if lead.linkedin_url:
        return _hashed("linkedin", lead.linkedin_url), (_hashed("email", lead.email) if lead.email else None)
    if lead.email:
        return _hashed("email", lead.email), None
    return _hashed("lead", lead.fingerprint or f"record:{lead.record_id}"), None


def people_of(keys: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Each ``person_key`` -> one representative key per person: keys tied by an alias (transitively) share it."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    persons = []
    for person, alias in keys:
        persons.append(person)
        a = root(person)
        if alias is not None:
            b = root(alias)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {person: root(person) for person in persons}

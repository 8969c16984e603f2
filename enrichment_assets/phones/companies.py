"""Company identity, and the numbers shared by colleagues (switchboards and shared office lines).

Two leads are at the same company when they have the same :func:`company_key`: the company domain when the lead
has one (a free-mail domain does not count), else the company name without its legal form. A number returned for
two or more distinct people with the same key is shared (:func:`find_shared_numbers`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable

from enrichment_assets.leads.email_domains import is_free_mail
from enrichment_assets.phones.regions import host_of

__all__ = ["LEGAL_SUFFIXES", "company_key", "find_shared_numbers", "normalize_company_name",
           "shared_numbers_by_company"]

#: Legal-form words dropped from the end of a company name.
LEGAL_SUFFIXES: frozenset[str] = frozenset(
    {
        "inc", "incorporated", "corp", "corporation", "co", "company", "llc",
        "llp", "lp", "ltd", "limited", "plc", "gmbh", "mbh", "ag", "kg", "kgaa",
        "ohg", "ug", "se", "sa", "sas", "sarl", "sasu", "sl", "slu", "srl",
        "spa", "bv", "nv", "oy", "oyj", "ab", "as", "asa", "aps", "pty",
        "pte", "pvt", "private", "ltda", "eireli", "kk", "group", "holding",
        "holdings", "and",
    }
)  # fmt: skip

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_company_name(company: str) -> str | None:
    """``"The Acme & Sons GmbH"`` -> ``"acme and sons"``: ASCII, lowercase, without a leading "the" and
    trailing legal forms; ``None`` when nothing is left."""
    text = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode("ascii")
    text = text.lower().replace("&", " and ").replace("+", " and ")
    text = text.replace(".", "")  # S.A. -> sa, G.m.b.H. -> gmbh, J.P. -> jp
    tokens = [t for t in _NON_WORD.split(text) if t]
    if tokens and tokens[0] == "the" and len(tokens) > 1:
        tokens = tokens[1:]
    while len(tokens) > 1 and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    name = " ".join(tokens)
    return name or None


def company_key(company: str | None, domain: str | None) -> str | None:
    """Normalized company identity: the domain if any, else the cleaned name.

    ``("Acme GmbH", "www.Acme.de")`` → ``"acme.de"``;
    ``("Acme Inc.", None)`` → ``"acme"``. Free-mail domains (gmail.com, ...)
    are ignored. ``None`` when neither is usable.
    """
    if isinstance(domain, str) and domain.strip():
        host = host_of(domain)
        if host and "." in host and not is_free_mail(host):
            return host
    if isinstance(company, str) and company.strip():
        return normalize_company_name(company)
    return None


def find_shared_numbers(
    rows: Iterable[tuple[Hashable, str | None, str | None]],
) -> set[tuple[str, str]]:
    """``(company_key, e164)`` pairs returned for two or more distinct people.

    ``rows`` are ``(person, company_key, e164)``; rows without a company key or
    E.164 are ignored. ``person`` is whatever identifies a person (a record id
    when nothing better is known): two rows with the same one are one person,
    never colleagues.
    """
    first_seen: dict[tuple[str, str], Hashable] = {}
    shared: set[tuple[str, str]] = set()
    for person, key, e164 in rows:
        if not key or not e164:
            continue
        pair = (key, e164)
        if pair in shared:
            continue
        seen = first_seen.setdefault(pair, person)
        if seen != person:
            shared.add(pair)
    return shared


def shared_numbers_by_company(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Index the output of :func:`find_shared_numbers` by company key."""
    by_company: dict[str, set[str]] = {}
    for key, e164 in pairs:
        by_company.setdefault(key, set()).add(e164)
    return {key: frozenset(numbers) for key, numbers in by_company.items()}

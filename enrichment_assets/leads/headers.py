"""Which column of a lead file holds which lead field.

Headers are matched case-insensitively after folding spaces, dashes, dots and slashes to ``_``
(:func:`header_key`), against the spellings of the exports people bring: HubSpot, Salesforce reports,
Apollo, Clay, ZoomInfo, Sales Navigator exports made with the usual tools, and Pipedrive. Where each
spelling comes from is listed in ``docs/lead_files.md``. Within a field the aliases are in order of
preference: a file with both ``Country`` and ``Company Country`` takes the person's ``Country``.

The record id is the one field that is never guessed between two candidates: a file with, say, both
``Record ID`` and ``Contact ID`` is refused until the user says which one is theirs (``--map`` or
``columns:`` in enrichment.yaml). An explicit mapping always wins over the aliases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Lead fields a column can be mapped to (``columns:`` / ``--map`` targets).
TARGET_FIELDS: tuple[str, ...] = ("record_id", "first_name", "last_name", "full_name", "company", "domain",
                                  "email", "linkedin_url", "country")

# Field -> accepted header keys (after header_key()), most preferred first.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "record_id": (
        "record_id", "id", "recordid", "crm_id",
        "lead_id", "contact_id",                    # Salesforce leads / contacts reports ("Lead ID", "Contact ID")
        "apollo_contact_id",                        # Apollo
        "zoominfo_contact_id",                      # ZoomInfo
        "person_id",                                # Pipedrive ("Person - ID"; "Lead - ID" is lead_id)
        "hubspot_id", "hs_object_id",               # HubSpot's internal name for "Record ID"
        "salesforce_id", "sfdc_id",
    ),
    "first_name": ("first_name", "firstname", "first", "given_name", "person_first_name", "contact_first_name"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name", "person_last_name",
                  "contact_last_name"),
    "full_name": ("full_name", "name", "fullname", "contact_name", "person_name", "contact_full_name"),
    "company": (
        "company", "company_name", "companyname", "organization", "organisation", "account", "account_name",
        "employer", "company_account",                  # Salesforce lead reports ("Company / Account")
        "person_organization", "organization_name",     # Pipedrive
        "current_company", "associated_company",        # Sales Navigator tools, HubSpot
    ),
    "domain": (
        "domain", "company_domain", "website", "website_url", "company_website", "companywebsite",
        "company_domain_name", "company_website_url", "organization_website", "person_website",
        "url", "web", "site", "homepage",
    ),
    "email": ("email", "work_email", "email_address", "business_email", "e_mail", "mail", "person_email_work",
              "person_email", "primary_email", "contact_email", "email_1"),
    "linkedin_url": (
        "linkedin_url", "linkedin", "linkedin_profile", "linkedin_profile_url",
        "person_linkedin_url",                          # Apollo
        "linkedin_contact_profile_url",                 # ZoomInfo
        "linkedinprofileurl", "defaultprofileurl",      # PhantomBuster's Sales Navigator exports
        "contact_linkedin_url", "person_linkedin_page", "linkedin_page", "li_url", "linkedin_slug",
        "linkedin_id",
        # Last: in Sales Navigator exports "profileUrl" is the /sales/lead/ page, not the public profile.
        "profile_url", "profileurl",
    ),
    "country": (
        "country", "country_code", "countrycode", "nation", "country_region",   # HubSpot "Country/Region"
        "mailing_country", "person_country", "country_name", "contact_country",
        "company_country",                              # only when nothing says where the person is
    ),
}

#: Header keys that name an id of the person. Two different ones in one file are ambiguous.
RECORD_ID_KEYS: frozenset[str] = frozenset(HEADER_ALIASES["record_id"])

_ALIAS_RANK = {alias: (canon, rank) for canon, aliases in HEADER_ALIASES.items()
               for rank, alias in enumerate(aliases)}


class ColumnError(ValueError):
    """The file's columns cannot be mapped without the user's say; ``str(exc)`` is one line for them."""


def header_key(header: str) -> str:
    """Lowercase, strip a BOM and whitespace, and fold spaces, dashes, dots and slashes to underscores."""
    text = (header or "").replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-./]+", "_", text).strip("_")


def canonical_header(header: str) -> str | None:
    found = _ALIAS_RANK.get(header_key(header))
    return found[0] if found else None


def map_headers(headers: list[str]) -> dict[str, int]:
    """Field -> column index by the aliases alone: the most preferred alias present, then the leftmost column."""
    best: dict[str, tuple[int, int]] = {}
    for index, header in enumerate(headers):
        found = _ALIAS_RANK.get(header_key(header))
        if found and (found[0] not in best or found[1] < best[found[0]][0]):
            best[found[0]] = (found[1], index)
    return {canon: index for canon, (_rank, index) in best.items()}


def check_targets(columns: Mapping[str, str], source: str) -> None:
    """Raise ColumnError naming any target that is not a lead field."""
    unknown = sorted(t for t in columns if t not in TARGET_FIELDS)
    if unknown:
        raise ColumnError(f"{source}: unknown target field(s) {', '.join(repr(t) for t in unknown)}; "
                          f"known: {', '.join(TARGET_FIELDS)}")


def _shown(header: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in header.strip()[:60])


@dataclass(frozen=True)
class ColumnMapping:
    """Field -> column index for one file, and which fields came from an explicit mapping."""

    indexes: dict[str, int]
    explicit: frozenset[str] = frozenset()


def resolve_columns(headers: list[str], columns: Mapping[str, str] | None = None,
                    defaults: Mapping[str, str] | None = None) -> ColumnMapping:
    """Map the file's columns to lead fields: ``columns`` (field -> header, ``--map``) first, then ``defaults``
    (``columns:`` in enrichment.yaml, used where the file has that column), then the aliases.

    Raises ColumnError for an unknown target, a ``columns`` header the file does not have, or two candidate
    record id columns with no explicit choice. A missing record id is left to the caller (its message
    depends on the file).
    """
    columns, defaults = dict(columns or {}), dict(defaults or {})
    check_targets(columns, "--map")
    check_targets(defaults, "columns")
    by_key: dict[str, int] = {}
    for index, header in enumerate(headers):
        by_key.setdefault(header.strip().lower(), index)
        by_key.setdefault(header_key(header), index)

    def find(source: str) -> int | None:
        return by_key.get(source.strip().lower(), by_key.get(header_key(source)))

    explicit: dict[str, int] = {}
    for target, source in defaults.items():
        # One enrichment.yaml serves files of many shapes: a mapping applies to the files that have its column.
        if (index := find(source)) is not None:
            explicit[target] = index
    for target, source in columns.items():
        if (index := find(source)) is None:
            raise ColumnError(f"--map {target}={_shown(source)!r}: the file has no such column")
        explicit[target] = index
    mapping = {**map_headers(headers), **explicit}
    if "record_id" not in explicit:
        candidates: dict[str, int] = {}
        for index, header in enumerate(headers):
            if (key := header_key(header)) in RECORD_ID_KEYS:
                candidates.setdefault(key, index)
        if len(candidates) > 1:
            names = [_shown(headers[i]) for i in sorted(candidates.values())]
            quoted = " and ".join(f"'{n}'" for n in names)
            raise ColumnError(
                f"two or more columns could be the record id ({quoted}): choose one with "
                f"--map record_id=\"{names[0]}\" or 'columns: {{record_id: \"{names[0]}\"}}' in enrichment.yaml")
    return ColumnMapping(indexes=mapping, explicit=frozenset(explicit))

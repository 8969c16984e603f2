"""Lead segments: the lead's country and which identifiers it carries, the two things that most change what a
vendor can find (vendors are strong in some regions, and each one matches on some identifiers only)."""

from __future__ import annotations

from dataclasses import dataclass

from enrichment_assets.leads.model import Lead

#: The country of a lead that has none.
UNKNOWN_COUNTRY = "??"
#: The identifiers a segment is told apart by, in the order they are written.
IDENTIFIERS: tuple[str, ...] = ("linkedin", "email", "name")
NO_IDENTIFIERS = "none"


@dataclass(frozen=True, slots=True, order=True)
class Segment:
    country: str
    #: The identifiers the lead has, ``+``-joined in ``IDENTIFIERS`` order (``linkedin+email``), or ``none``.
    identifiers: str

    def __str__(self) -> str:
        return f"{self.country} · {self.identifiers}"


def identifiers_of(lead: Lead) -> str:
    present = [name for name, has in zip(IDENTIFIERS, (bool(lead.linkedin_url), bool(lead.email),
                                                       lead.has_name_and_company), strict=True) if has]
    return "+".join(present) or NO_IDENTIFIERS


def segment_of(lead: Lead) -> Segment:
    return Segment(lead.country or UNKNOWN_COUNTRY, identifiers_of(lead))


#: The same segment, computed in DuckDB over ``raw_leads`` (constant SQL: no user data in it).
COUNTRY_SQL = f"coalesce(nullif(country, ''), '{UNKNOWN_COUNTRY}')"
IDENTIFIERS_SQL = (
    "coalesce(nullif(concat_ws('+', "
    "CASE WHEN nullif(linkedin_url, '') IS NOT NULL THEN 'linkedin' END, "
    "CASE WHEN nullif(email, '') IS NOT NULL THEN 'email' END, "
    "CASE WHEN nullif(first_name, '') IS NOT NULL AND nullif(last_name, '') IS NOT NULL "
    "AND coalesce(nullif(company, ''), nullif(domain, '')) IS NOT NULL THEN 'name' END), ''), "
    f"'{NO_IDENTIFIERS}')"
)

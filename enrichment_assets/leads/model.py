"""The normalized lead: what every vendor client and the waterfall engine see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lead:
    """One normalized lead from a lead list.

    All fields are already normalized by ingestion: trimmed, LinkedIn URL in the
    canonical ``https://www.linkedin.com/in/<slug>`` form, email lowercased,
    ``domain`` a bare lowercase host, ``country`` ISO-3166 alpha-2 (upper case).
    Missing values are ``None``, never empty strings.
    """

    list_id: str
    record_id: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    domain: str | None = None
    email: str | None = None
    linkedin_url: str | None = None
    country: str | None = None
    fingerprint: str | None = None

    @property
    def linkedin_slug(self) -> str | None:
        if not self.linkedin_url:
            return None
        return self.linkedin_url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def has_name_and_company(self) -> bool:
        return bool(self.first_name and self.last_name and (self.company or self.domain))

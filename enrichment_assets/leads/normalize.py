"""Normalization rules for lead fields, one small function per field.

Every function either returns the normalized value (``None`` for empty) or
raises :class:`InvalidField` with a message a RevOps person can act on. They
never raise anything else, whatever the input: ingestion relies on that to
quarantine bad rows instead of stopping a run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import pycountry
from email_validator import EmailNotValidError, validate_email


class InvalidField(ValueError):
    """A field's value cannot be normalized; ``str(exc)`` is the human-readable reason."""


# Canonical column -> accepted header spellings, compared after `header_key()`.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "record_id": ("record_id", "id", "recordid", "lead_id", "contact_id", "crm_id"),
    "first_name": ("first_name", "firstname", "first", "given_name"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name"),
    "full_name": ("full_name", "name", "fullname", "contact_name"),
    "company": ("company", "company_name", "companyname", "organization", "organisation", "account",
                "account_name", "employer"),
    "domain": ("domain", "company_domain", "website", "company_website", "url", "web", "site", "homepage"),
    "email": ("email", "work_email", "email_address", "business_email", "e_mail", "mail"),
    "linkedin_url": ("linkedin_url", "linkedin", "profile_url", "linkedin_id", "linkedin_profile",
                     "linkedin_profile_url", "li_url", "linkedin_slug"),
    "country": ("country", "country_code", "countrycode", "nation"),
}

_ALIAS_TO_CANONICAL = {alias: canon for canon, aliases in HEADER_ALIASES.items() for alias in aliases}


def header_key(header: str) -> str:
    """Lowercase, strip a BOM and whitespace, and fold spaces, dashes and dots to underscores."""
    text = (header or "").replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-./]+", "_", text).strip("_")


def canonical_header(header: str) -> str | None:
    return _ALIAS_TO_CANONICAL.get(header_key(header))


def map_headers(headers: list[str]) -> dict[str, int]:
    """Canonical column -> index in the header row. The first matching column wins."""
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        canon = canonical_header(header)
        if canon and canon not in mapping:
            mapping[canon] = index
    return mapping


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_FIELD_LENGTH = 1_000


def clean_text(value: object, field: str) -> str | None:
    """Trim, collapse inner whitespace, refuse control characters and undecodable bytes."""
    if value is None:
        return None
    text = str(value)
    if _SURROGATE.search(text):
        raise InvalidField(f"{field} is not valid UTF-8 text")
    if _CONTROL.search(text):
        raise InvalidField(f"{field} contains control characters")
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidField(f"{field} is longer than {MAX_FIELD_LENGTH} characters")
    return unicodedata.normalize("NFC", text)


_FORMULA_PREFIXES = ("=", "+", "-", "@")


def clean_name(value: object, field: str) -> str | None:
    text = clean_text(value, field)
    if text is None:
        return None
    if text[0] in _FORMULA_PREFIXES:
        # "=cmd|..." style spreadsheet formulas are never names; keeping them would re-inject on export.
        raise InvalidField(f"{field} looks like a spreadsheet formula")
    return text


_SIGNED_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def normalize_record_id(value: object) -> str | None:
    text = clean_text(value, "record_id")
    if text is not None and len(text) > 200:
        raise InvalidField("record_id is longer than 200 characters")
    if text is not None and text[0] in _FORMULA_PREFIXES and not _SIGNED_NUMBER.match(text):
        # record_id is copied into contacts and the marts: a formula there runs when someone opens the export.
        raise InvalidField("record_id looks like a spreadsheet formula")
    return text


_SLUG_CHARS = re.compile(r"^[a-z0-9\-_%.À-ɏ]+$")
_LINKEDIN_HOST = re.compile(r"^([a-z]{2,3}\.|www\.|m\.)?linkedin\.com$")


def normalize_linkedin(value: object) -> str | None:
    """Any common form of a LinkedIn profile URL, or a bare slug, to ``https://www.linkedin.com/in/<slug>``."""
    text = clean_text(value, "linkedin_url")
    if text is None:
        return None
    raw = text.strip().strip("<>\"'")
    lowered = raw.lower()
    if "linkedin.com" not in lowered and "/" not in raw and " " not in raw:
        slug = lowered
    else:
        if not re.match(r"^[a-z][a-z0-9+.\-]*://", lowered):
            lowered = "https://" + lowered.lstrip("/")
        try:
            parts = urlsplit(lowered)
        except ValueError:
            raise InvalidField("linkedin_url is not a URL") from None
        host = (parts.hostname or "").lower()
        if not _LINKEDIN_HOST.match(host):
            raise InvalidField("linkedin_url is not a linkedin.com address")
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2 or segments[0] not in ("in", "pub"):
            raise InvalidField("linkedin_url is not a personal profile (/in/<name>)")
        slug = segments[1]
    slug = unquote(slug).strip().lower()
    if not slug or len(slug) > 100 or not _SLUG_CHARS.match(slug):
        raise InvalidField("linkedin_url has no valid profile name")
    return f"https://www.linkedin.com/in/{slug}"


@lru_cache(maxsize=65_536)
def _validated_email(text: str) -> str:
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidField("email is not a valid address") from None
    return result.normalized.lower()


def normalize_email(value: object) -> str | None:
    text = clean_text(value, "email")
    if text is None:
        return None
    text = text.strip("<>\"' ").removeprefix("mailto:").lower()
    if text[:1] in _FORMULA_PREFIXES:
        raise InvalidField("email looks like a spreadsheet formula")
    if len(text) > 254:
        raise InvalidField("email is not a valid address")
    return _validated_email(text)


_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: object) -> str | None:
    """A website URL or bare host to a lowercase host without ``www.``."""
    text = clean_text(value, "domain")
    if text is None:
        return None
    lowered = text.lower().strip("<>\"' ")
    if "@" in lowered and "/" not in lowered:
        lowered = lowered.rsplit("@", 1)[1]
    if not re.match(r"^[a-z][a-z0-9+.\-]*://", lowered):
        lowered = "http://" + lowered.lstrip("/")
    try:
        host = urlsplit(lowered).hostname or ""
    except ValueError:
        raise InvalidField("domain is not a website or domain") from None
    host = host.rstrip(".").removeprefix("www.")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidField("domain is not a website or domain") from None
    labels = host.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidField("domain is not a website or domain")
    return host


_COUNTRY_ALIASES = {
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "great britain": "GB",
    "britain": "GB", "northern ireland": "GB",
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "deutschland": "DE", "allemagne": "DE", "españa": "ES", "espana": "ES", "brasil": "BR",
    "holland": "NL", "the netherlands": "NL", "nederland": "NL", "south korea": "KR", "korea": "KR",
    "russia": "RU", "uae": "AE", "czech republic": "CZ", "türkiye": "TR", "turkey": "TR",
    "ivory coast": "CI", "vietnam": "VN", "iran": "IR", "taiwan": "TW", "bolivia": "BO",
    "venezuela": "VE", "tanzania": "TZ", "syria": "SY", "laos": "LA", "moldova": "MD",
}


@lru_cache(maxsize=4_096)
def _country_code(key: str) -> str:
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        pass
    try:
        matches = pycountry.countries.search_fuzzy(key) if len(key) > 3 else []
    except LookupError:
        matches = []
    if len(matches) == 1:
        return matches[0].alpha_2
    raise InvalidField("country is not a recognised country name or ISO code")


def normalize_country(value: object) -> str | None:
    text = clean_text(value, "country")
    if text is None:
        return None
    return _country_code(text.lower().strip(" ."))


FINGERPRINT_FIELDS = ("first_name", "last_name", "company", "domain", "email", "linkedin_url", "country")


def lead_fingerprint(fields: dict[str, str | None]) -> str:
    """A stable hash of the normalized identifying fields (order and names fixed)."""
    payload = "\x1f".join(f"{name}={fields.get(name) or ''}" for name in FINGERPRINT_FIELDS)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class NormalizedRow:
    record_id: str
    first_name: str | None
    last_name: str | None
    company: str | None
    domain: str | None
    email: str | None
    linkedin_url: str | None
    country: str | None
    fingerprint: str


def _split_full_name(full: str | None) -> tuple[str | None, str | None]:
    if not full:
        return None, None
    parts = full.split(" ")
    if len(parts) < 2:
        return None, None
    return parts[0], " ".join(parts[1:])


def normalize_row(values: dict[str, object]) -> NormalizedRow:
    """Normalize one row keyed by canonical column names, or raise InvalidField with every reason."""
    reasons: list[str] = []

    def attempt(fn, key):  # noqa: ANN001, ANN202 - tiny local helper
        try:
            return fn(values.get(key))
        except InvalidField as exc:
            reasons.append(str(exc))
            return None

    record_id = attempt(normalize_record_id, "record_id")
    first = attempt(lambda v: clean_name(v, "first_name"), "first_name")
    last = attempt(lambda v: clean_name(v, "last_name"), "last_name")
    if not first and not last:
        full = attempt(lambda v: clean_name(v, "full_name"), "full_name")
        first, last = _split_full_name(full)
    company = attempt(lambda v: clean_name(v, "company"), "company")
    domain = attempt(normalize_domain, "domain")
    email = attempt(normalize_email, "email")
    linkedin = attempt(normalize_linkedin, "linkedin_url")
    country = attempt(normalize_country, "country")

    if record_id is None and not any(r.startswith("record_id") for r in reasons):
        reasons.insert(0, "missing record_id")
    if reasons:
        raise InvalidField("; ".join(reasons))
    if not (linkedin or email or (first and last and (company or domain))):
        raise InvalidField("nothing to look up: needs a LinkedIn URL, an email, or first and last name "
                           "with a company or domain")
    fields = {"first_name": first, "last_name": last, "company": company, "domain": domain,
              "email": email, "linkedin_url": linkedin, "country": country}
    return NormalizedRow(record_id=record_id, fingerprint=lead_fingerprint(fields), **fields)  # type: ignore[arg-type]

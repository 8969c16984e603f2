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

# Header recognition lives in headers.py; these names stay importable from here.
from enrichment_assets.leads.countries import country_code
from enrichment_assets.leads.headers import HEADER_ALIASES, canonical_header, header_key, map_headers

__all__ = ["HEADER_ALIASES", "InvalidField", "NormalizedRow", "canonical_header", "clean_name", "clean_text",
           "header_key", "lead_fingerprint", "map_headers", "normalize_country", "normalize_domain",
           "normalize_email", "normalize_linkedin", "normalize_record_id", "normalize_row"]


class InvalidField(ValueError):
    """A field's value cannot be normalized; ``str(exc)`` is the human-readable reason."""


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


@lru_cache(maxsize=4_096)
def _country_code(text: str) -> str:
    code = country_code(text)
    if code:
        return code
    key = text.lower().strip(" .")
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
    return _country_code(text)


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

    def attempt(fn, key):
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

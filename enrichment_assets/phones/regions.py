"""Which countries to read a national phone number in: the lead's country, then its company domain's.

A number written without ``+`` means nothing without a country. :func:`region_hints` gives the countries to
try, in order: the lead's own, then the one implied by the company domain's country TLD (``acme.de`` ->
``DE``; generic and vanity TLDs such as ``.com`` or ``.io`` imply none).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

__all__ = [
    "GENERIC_USE_CCTLDS",
    "SUPPORTED_REGIONS",
    "host_of",
    "normalize_hints",
    "normalize_region",
    "region_from_domain",
    "region_hints",
]

SUPPORTED_REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)

#: Country-code spellings that are not ISO-3166 alpha-2 but show up in data.
_REGION_ALIASES: dict[str, str] = {"UK": "GB", "EL": "GR"}


def normalize_region(value: object) -> str | None:
    """Upper-case ISO-2 region libphonenumber knows, or ``None``."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = _REGION_ALIASES.get(code, code)
    return code if code in SUPPORTED_REGIONS else None


#: ccTLDs that differ from the ISO-3166 code of their country.
_TLD_TO_REGION: dict[str, str] = {"uk": "GB"}

#: ccTLDs mostly bought as vanity/generic domains (``acme.io``, ``foo.ai``,
#: ``bar.co``): a bare ``<name>.io`` says nothing about the company's country.
#: They count only under a national second level (``empresa.com.co``).
GENERIC_USE_CCTLDS: frozenset[str] = frozenset(
    {
        "ac", "ad", "ai", "am", "as", "bz", "cc", "cd", "co", "dj", "fm", "gd",
        "gg", "gl", "io", "la", "ly", "me", "ms", "nu", "sh", "so", "st", "sx",
        "tk", "to", "tv", "vc", "vu", "ws",
    }
)  # fmt: skip

#: Second-level labels that mark a national registry (``.co.uk``, ``.com.au``).
_NATIONAL_SLDS: frozenset[str] = frozenset(
    {"co", "com", "org", "net", "gov", "edu", "ac", "or", "ne", "gob", "gouv", "ltd", "plc"}
)

_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://")


def host_of(domain: str) -> str:
    """The bare lowercase host of a domain, URL or email address (``https://www.Acme.de/x`` -> ``acme.de``)."""
    host = domain.strip().lower()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    host = _URL_PREFIX.sub("", host)
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.split(":", 1)[0].strip().strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host


@lru_cache(maxsize=65536)
def _region_from_host(host: str) -> str | None:
    labels = [label for label in host.split(".") if label]
    if len(labels) < 2:
        return None
    tld = labels[-1]
    if len(tld) != 2 or not tld.isascii() or not tld.isalpha():
        return None  # generic TLD (.com, .org, .tech) or an IDN / punycode TLD
    if tld in GENERIC_USE_CCTLDS and not (len(labels) >= 3 and labels[-2] in _NATIONAL_SLDS):
        return None
    return normalize_region(_TLD_TO_REGION.get(tld, tld))


def region_from_domain(domain: str | None) -> str | None:
    """ISO-2 country implied by a company domain's ccTLD, ``None`` for generic TLDs.

    ``acme.de`` → ``DE``, ``acme.co.uk`` / ``acme.uk`` → ``GB``,
    ``acme.com.au`` → ``AU``, ``acme.com.br`` → ``BR``; ``acme.com``,
    ``acme.eu`` and vanity ccTLDs (``acme.io``, ``acme.ai``, ``acme.co``) →
    ``None``. Accepts a bare host, a URL or an email address; never raises.
    """
    if not isinstance(domain, str) or not domain.strip():
        return None
    try:
        return _region_from_host(host_of(domain))
    except Exception:  # pragma: no cover - defensive: never raise on data  # noqa: BLE001
        return None


def region_hints(country: str | None, domain: str | None) -> tuple[str, ...]:
    """Region hints in the order :func:`parse_phone` should try them.

    The lead's country first, then the country of the company domain's TLD;
    unknown values are dropped and duplicates removed.
    """
    return normalize_hints((country, region_from_domain(domain)))


def normalize_hints(hints: object) -> tuple[str, ...]:
    """Known ISO-2 regions of ``hints`` (one code or a sequence), in order, without duplicates."""
    if hints is None:
        return ()
    if isinstance(hints, str):
        hints = (hints,)
    out: list[str] = []
    try:
        for hint in hints:  # type: ignore[union-attr]
            region = normalize_region(hint)
            if region is not None and region not in out:
                out.append(region)
    except TypeError:
        return ()
    return tuple(out)

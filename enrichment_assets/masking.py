"""What logs, metadata, previews and error messages may show of secrets and personal data: the one place.

- A phone number shows its last two digits and nothing else: no country code, no extension. Numbers with
  fewer than six digits show none.
- An email shows its first character and its domain.
- An API key shows nothing, raw or URL-encoded.
- In free text (a vendor's error message, an httpx log line) the same rules apply to anything that looks
  like one, and URL query strings and LinkedIn profile slugs are hidden too.

The tables keep the full values (that is their job); everything written for a person to read goes through
here first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK_CHAR = "•"
MASK = MASK_CHAR * 3

#: A number with fewer digits than this shows none of them (too short for two to be harmless).
_MIN_DIGITS_TO_SHOW_ANY = 6
#: A digit run in free text is taken for a phone number from this many digits on (ports, IPs and counts are shorter).
_MIN_DIGITS_OF_A_PHONE = 7

_EXTENSION_START = re.compile(r"(?i)(?:;\s*ext\s*=|ext(?:ension)?\.?|x|#)\s*\d")
_URL_QUERY = re.compile(r"((?:https?://|/)[^\s?#'\"<>]*)\?[^\s'\"<>]*")
_LINKEDIN_PATH = re.compile(r"(linkedin\.com(?:/|%2F)in(?:/|%2F))[^\s/?#&'\"<>%]+", re.IGNORECASE)
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*(?:@|%40)([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
#: Shorter secrets would match ordinary text; no vendor issues keys that short.
_MIN_SECRET_LENGTH = 4


def mask_phone(number: object) -> str:
    """The last two digits, each other digit a bullet: ``+49 1512 3456789`` -> ``•••••••••••89``.

    The extension (``ext. 77``, ``x77``, ``#77``) is dropped first. Anything that is not a string gives
    ``""``; never raises.
    """
    if not isinstance(number, str):
        return ""
    extension = _EXTENSION_START.search(number)
    main = number[: extension.start()] if extension else number
    digits = [ch for ch in main if ch.isdecimal()]
    if len(digits) < _MIN_DIGITS_TO_SHOW_ANY:
        return MASK_CHAR * len(digits)
    return MASK_CHAR * (len(digits) - 2) + "".join(str(int(ch)) for ch in digits[-2:])


def mask_email(email: str | None) -> str:
    """``jane.doe@acme.io`` -> ``j•••@acme.io``; without a domain, ``•••``; nothing for nothing."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if domain else MASK


def _mask_phone_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < _MIN_DIGITS_OF_A_PHONE:
        return text
    return mask_phone(text)


def _usable(secrets: Iterable[str]) -> list[str]:
    return [s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH]


def mask_sensitive(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secrets and personal data in free text (error messages, log lines).

    - each secret (an API key), raw or URL-encoded -> ``•••``;
    - URL query strings (Enrich Layer puts the LinkedIn URL there) -> ``?•••``;
    - LinkedIn profile slugs -> ``linkedin.com/in/•••``;
    - emails -> first character + domain;
    - phone-like digit runs (7+ digits) -> as :func:`mask_phone`.
    """
    if not text:
        return text
    for secret in _usable(secrets):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    text = _URL_QUERY.sub(lambda m: f"{m.group(1)}?{MASK}", text)
    text = _LINKEDIN_PATH.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}{MASK}@{m.group(2)}", text)
    return _PHONE.sub(_mask_phone_match, text)


def scrub_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """Replace secrets anywhere inside a parsed JSON value (vendors should never echo keys; if one does, drop it)."""
    secrets = _usable(secrets)
    if not secrets:
        return value
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, MASK)
        return value
    if isinstance(value, list):
        return [scrub_secrets(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub_secrets(v, secrets) for k, v in value.items()}
    return value

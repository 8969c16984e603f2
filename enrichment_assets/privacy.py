"""Masking for logs, metadata and previews: no full phone number or email ever leaves the tables."""

from __future__ import annotations

import re

_PHONE_LIKE = re.compile(r"\+?\d[\d\s().\-]{6,}\d")
_EMAIL_LIKE = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


def mask_email(email: str | None) -> str:
    """``jane.doe@acme.io`` -> ``j•••@acme.io``."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def mask_phone(number: str | None) -> str:
    """Keep the country code (for +numbers) and the last two digits: ``+4915123456789`` -> ``+49•••••••••89``."""
    if not number:
        return ""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "•" * len(digits)
    if number.strip().startswith("+"):
        cc = digits[:2] if digits[0] != "1" else "1"
        return f"+{cc}{'•' * (len(digits) - len(cc) - 2)}{digits[-2:]}"
    return f"{'•' * (len(digits) - 2)}{digits[-2:]}"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask phone numbers, emails and the given secrets anywhere in a free-text message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "•••")
    text = _EMAIL_LIKE.sub(lambda m: f"{m.group(1)}•••@{m.group(2)}", text)
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)), text)

"""Real example numbers from libphonenumber's metadata (valid by construction)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

REGIONS = ("US", "CA", "GB", "DE", "FR", "AU", "IN", "ES", "NL", "BR")


def example(region: str, kind: int = PhoneNumberType.MOBILE) -> phonenumbers.PhoneNumber:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return number


def e164(region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    return phonenumbers.format_number(example(region, kind), PhoneNumberFormat.E164)


def national(region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    return phonenumbers.format_number(example(region, kind), PhoneNumberFormat.NATIONAL)


def international(region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    return phonenumbers.format_number(example(region, kind), PhoneNumberFormat.INTERNATIONAL)


def dashed(region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    """Vendor style: ``+1-201-555-0123`` (international format, dashes for spaces)."""
    return international(region, kind).replace(" ", "-")


def mobile_of(region: str) -> str:
    return e164(region, PhoneNumberType.MOBILE)


def fixed_of(region: str) -> str:
    return e164(region, PhoneNumberType.FIXED_LINE)


def status_of(best):
    """The contact status of a lead with this best phone (no pending answer, not suppressed)."""
    from enrichment_assets.contacts.rows import contact_status

    return contact_status(best, set(), False)

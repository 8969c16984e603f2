"""Phone number parsing and normalization (pure Python, no Dagster).

Every number a vendor returns goes through :func:`parse_phone`, which turns a
raw string (``"+1-555-123-4567"``, ``"030 123456"``, ``"tel:+44..."``) into a
:class:`ParsedPhone`: its E.164 form, libphonenumber's line type, its country
and whether libphonenumber considers it valid.

How a raw string is read:

* Surrounding whitespace and ``tel:`` / ``callto:`` prefixes are dropped;
  dashes, dots, spaces, parentheses and a ``(0)`` trunk prefix inside an
  international number are ignored by libphonenumber.
* A number that starts with ``+`` is international and is parsed without a
  region hint.
* Otherwise the region hints are tried in order (the lead's country first,
  then the country of the company domain's TLD, see :func:`region_hints`);
  the first hint under which the number is valid wins.
* When no hint gives a valid number, two last resorts are tried, and used
  only if they give a valid number: a ``00`` international prefix read as
  ``+``, and a digit string of 11-15 digits not starting with ``0`` read as
  E.164 with the ``+`` missing (``14155550123``).
* Extensions (``ext. 12``, ``x12``, ``;ext=12``, ``#12``) are split off into
  ``extension``; E.164 never carries an extension.
* Input that parses but is not a valid number keeps its E.164 form (so it can
  still be stored) with ``valid=False`` and ``number_type="invalid"``; input
  that cannot be parsed at all gets ``e164=None``. Nothing ever raises.

Parsing is memoized per ``(raw, hints)`` so the merge step, which sees the
same number from several providers and in several passes, parses it once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

# Region hints are built in regions.py; re-exported here, where the waterfall and the merge import them from.
from enrichment_assets.phones.regions import (
    SUPPORTED_REGIONS,
    normalize_hints,
    normalize_region,
    region_from_domain,
    region_hints,
)

__all__ = [
    "NUMBER_TYPES",
    "ParsedPhone",
    "digits_of",
    "normalize_region",
    "parse_phone",
    "region_from_domain",
    "region_hints",
]

# --------------------------------------------------------------------------- #
# Number types
# --------------------------------------------------------------------------- #

_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

#: Every value ``number_type`` can take (here and in ``contact_phones``).
NUMBER_TYPES: tuple[str, ...] = (
    "mobile",
    "fixed_line",
    "fixed_line_or_mobile",
    "toll_free",
    "voip",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "unknown",
    "invalid",
)

#: Longest digit string (country code + national number) E.164 allows.
E164_MAX_DIGITS = 15

#: Memo size for :func:`parse_phone` (entries are small, about 300 bytes).
PARSE_CACHE_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class ParsedPhone:
    """One raw phone string, normalized.

    ``e164`` is ``None`` only when the input could not be parsed at all; an
    input that parses but is not a valid number keeps its E.164 form with
    ``valid=False`` and ``number_type="invalid"``. ``region`` is the ISO-2
    country libphonenumber assigns to a valid number (``None`` for invalid and
    non-geographic numbers such as ``+800``). ``extension`` is the extension
    split off the raw string, if any.
    """

    raw: str
    e164: str | None
    number_type: str
    region: str | None
    valid: bool
    extension: str | None = None


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #

_PREFIXES = ("tel://", "tel:", "callto://", "callto:", "phone:")
_PLUS_SIGNS = ("+", "\uff0b")  # ASCII plus, full-width plus
_LEADING_JUNK = " \t\r\n\u00a0\u200b\u202a\u202c\"'([{<-–—.•·"
# A "(0)" trunk prefix written inside an international number: +44 (0)20 ...
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
_MAX_INPUT = 250  # libphonenumber refuses longer input anyway
# Where an extension starts: ";ext=12", "ext. 12", "extension 12", "x12", "#12".
_EXTENSION_START = re.compile(r"(?i)(?:;\s*ext\s*=|ext(?:ension)?\.?|x|#)\s*\d")
# A leading "00" international (IDD) prefix, digits possibly spaced: "00 49 ...".
_IDD_00 = re.compile(r"^\D*0\D*0")


def digits_of(raw: object) -> str:
    """The ASCII digits of a raw string (any Unicode decimal digit counts)."""
    if not isinstance(raw, str):
        return ""
    return "".join(str(int(ch)) for ch in raw if ch.isdecimal())


def _main_part(text: str) -> str:
    """``text`` without its extension, if it has one."""
    match = _EXTENSION_START.search(text)
    return text[: match.start()] if match else text


def _clean(raw: str) -> str:
    text = raw.strip()
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.lstrip(_LEADING_JUNK)
    if text.startswith(_PLUS_SIGNS):
        text = _TRUNK_ZERO.sub(" ", text, count=1)
    return text


def _try_parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    except Exception:  # pragma: no cover - libphonenumber bug on odd input  # noqa: BLE001
        return None


def _e164_of(number: phonenumbers.PhoneNumber) -> str | None:
    """E.164 form of a parsed number, or ``None`` if it is not a sane E.164."""
    try:
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    except Exception:  # pragma: no cover - defensive  # noqa: BLE001
        return None
    if not e164.startswith("+") or not e164[1:].isdigit() or len(e164) - 1 > E164_MAX_DIGITS:
        return None
    return e164


def _round_trips(e164: str) -> bool:
    back = _try_parse(e164, None)
    return back is not None and _e164_of(back) == e164


try:  # libphonenumber's type matcher: lets one region lookup serve validity and type
    from phonenumbers.phonenumberutil import _number_type_helper
except ImportError:  # pragma: no cover - a future phonenumbers without it: public API
    _number_type_helper = None

_NON_GEO = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY


def _check(number: phonenumbers.PhoneNumber) -> tuple[bool, str | None, int]:
    """``(valid, region code, type)`` of a parsed number.

    Same answers as ``is_valid_number`` / ``number_type`` (a property test
    checks this), but the region of the number, the slow part for +1 numbers
    shared by some 25 countries, is looked up once instead of three times.
    """
    try:
        region = phonenumbers.region_code_for_number(number)
        if _number_type_helper is None:  # pragma: no cover
            valid = bool(phonenumbers.is_valid_number_for_region(number, region))
            return valid, region, phonenumbers.number_type(number) if valid else PhoneNumberType.UNKNOWN
        if region is None:
            return False, None, PhoneNumberType.UNKNOWN
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
        if metadata is None or (
            region != _NON_GEO and number.country_code != phonenumbers.country_code_for_valid_region(region)
        ):
            return False, region, PhoneNumberType.UNKNOWN
        kind = _number_type_helper(phonenumbers.national_significant_number(number), metadata)
        return kind != PhoneNumberType.UNKNOWN, region, kind
    except Exception:  # pragma: no cover - defensive  # noqa: BLE001
        return False, None, PhoneNumberType.UNKNOWN


def _result(raw: str, number: phonenumbers.PhoneNumber, valid: bool, region: str | None, kind: int) -> ParsedPhone:
    extension = number.extension or None
    e164 = _e164_of(number)
    if not valid:
        if e164 is not None and not _round_trips(e164):
            e164 = None
        return ParsedPhone(raw, e164, "invalid", None, False, extension)
    if e164 is None:  # pragma: no cover - a valid number always formats
        return ParsedPhone(raw, None, "invalid", None, False, extension)
    region = region if region in SUPPORTED_REGIONS else None
    return ParsedPhone(raw, e164, _TYPE_NAMES.get(kind, "unknown"), region, True, extension)


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_cached(raw: str, hints: tuple[str, ...]) -> ParsedPhone:
    text = _clean(raw)
    if not text or len(text) > _MAX_INPUT:
        return ParsedPhone(raw, None, "invalid", None, False)

    if text.startswith(_PLUS_SIGNS):
        number = _try_parse(text, None)
        if number is None:
            return ParsedPhone(raw, None, "invalid", None, False)
        return _result(raw, number, *_check(number))

    first: phonenumbers.PhoneNumber | None = None
    for hint in hints:
        number = _try_parse(text, hint)
        if number is None:
            continue
        valid, region, kind = _check(number)
        if valid:
            return _result(raw, number, True, region, kind)
        if first is None:
            first = number

    # Last resorts, only accepted when they give a valid number.
    digits = digits_of(_main_part(text))
    candidates: list[str] = []
    if digits.startswith("00") and len(digits) > 4:
        candidates.append(_IDD_00.sub("+", text, count=1))
    if 11 <= len(digits) <= E164_MAX_DIGITS and not digits.startswith("0"):
        candidates.append("+" + text)
    for candidate in candidates:
        number = _try_parse(candidate, None)
        if number is None:
            continue
        valid, region, kind = _check(number)
        if valid:
            return _result(raw, number, True, region, kind)

    if first is not None:
        return _result(raw, first, False, None, PhoneNumberType.UNKNOWN)
    return ParsedPhone(raw, None, "invalid", None, False)


def parse_phone(raw: str, region_hints: Sequence[str | None] = ()) -> ParsedPhone:
    """Parse one raw phone string; never raises.

    ``region_hints`` are ISO-2 country codes tried in order for numbers
    without a leading ``+`` (``None`` and unknown codes are skipped); build
    them with :func:`region_hints` from the lead's country and company domain.
    """
    if not isinstance(raw, str):
        return ParsedPhone("" if raw is None else str(raw), None, "invalid", None, False)
    try:
        return _parse_cached(raw, normalize_hints(region_hints))
    except Exception:  # pragma: no cover - defensive: never raise on data  # noqa: BLE001
        return ParsedPhone(raw, None, "invalid", None, False)

"""Reading what a vendor said went wrong: its message, its Retry-After, and what the status code means for us.

Pure functions over a response's status, headers and parsed body: the client calls them, a vendor module
refines ``error_status`` where its document says otherwise (docs/vendors.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from enrichment_assets.vendors.base import CallStatus

_CREDIT_PROBLEM = re.compile(
    r"(insufficient|not enough|out of|no remaining|no|exhausted|zero|depleted)\s+(\w+\s+){0,2}credits?"
    r"|credits?\s+(\w+\s+){0,3}(insufficient|exhausted|exceeded|depleted|required|balance|limit|remaining)"
    r"|payment required|insufficient (funds|balance)|top up|add credits|billing",
    re.IGNORECASE,
)

#: Headers some vendors use instead of Retry-After (a delta, or an epoch timestamp).
_RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset")
#: A "delta" above this is an epoch timestamp (2001-09-09 onwards).
_EPOCH_THRESHOLD = 1_000_000_000


class ShapeError(ValueError):
    """A 2xx response whose JSON is not the shape the vendor documents."""


class StopProvider(Exception):
    """Raised by a vendor's success parser when a 2xx answer says the provider cannot go on."""

    def __init__(self, status: CallStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def looks_like_credit_problem(message: str | None) -> bool:
    """Whether a vendor's error message says the account is out of credits (wording varies by vendor)."""
    return bool(message) and bool(_CREDIT_PROBLEM.search(message))


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` value: delta seconds (int or float) or an HTTP date."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_after_seconds(headers: Mapping[str, str], body: Any) -> float | None:
    """Seconds a 429 asks to wait: ``Retry-After`` header, else body ``retry_after``, else a reset header."""
    value = parse_retry_after(headers.get("retry-after"))
    if value is not None:
        return value
    if isinstance(body, dict):
        value = parse_retry_after(body.get("retry_after"))
        if value is not None:
            return value
    for name in _RESET_HEADERS:
        value = parse_retry_after(headers.get(name))
        if value is not None:
            return max(0.0, value - time.time()) if value > _EPOCH_THRESHOLD else value
    return None


def is_transient_status(code: int | None) -> bool:
    """5xx and 408: the vendor may or may not have done the work; asked again (bounded)."""
    code = code or 0
    return code >= 500 or code == 408


def _has_credit_fields(body: Any) -> bool:
    return isinstance(body, dict) and (
        body.get("credits_required") is not None or body.get("credits_remaining") is not None
    )


def error_status(code: int | None, body: Any, message: str) -> CallStatus:
    """What a final non-2xx, non-retried response means, before a vendor's own reading of its codes.

    402, or a 403/400/422 that speaks of credits: out of credits (the provider stops for the run).
    401, another 403, 405, 410: the provider is unavailable for the run (every record would fail alike).
    Anything else (400, 404, 422, ...): the record's error.
    """
    code = code or 0
    about_credits = _has_credit_fields(body) or looks_like_credit_problem(message)
    if code == 402:
        return CallStatus.OUT_OF_CREDITS
    if code == 401:
        return CallStatus.UNAVAILABLE
    if code == 403:
        return CallStatus.OUT_OF_CREDITS if about_credits else CallStatus.UNAVAILABLE
    if code in (405, 410):
        return CallStatus.UNAVAILABLE
    if code in (400, 422) and about_credits:
        return CallStatus.OUT_OF_CREDITS
    return CallStatus.ERROR


def vendor_message(body: Any, text: str = "") -> str:
    """The human part of a vendor's error body, whatever its shape (unmasked: mask before use).

    Understands ``{"error": ...}``, ``{"message": ...}``, Enrich Layer's ``{"description": ...}``, RFC 9457
    ``{"errors": [{"title", "detail", "code"}]}``, FastAPI ``{"detail": [{"loc", "msg"}]}`` and
    ``{"detail": "..."}``; falls back to the first 200 characters of the text.
    """
    parts = _message_parts(body) if isinstance(body, dict) else [body] if isinstance(body, str) else []
    if not parts and text:
        parts.append(" ".join(text.split())[:200])
    return "; ".join(dict.fromkeys(parts))


def _message_parts(body: dict[str, Any]) -> list[str]:
    parts = [*_top_level_messages(body), *_error_list(body.get("errors")), *_detail(body.get("detail"))]
    details = body.get("details")
    if isinstance(details, str) and details.strip():
        parts.append(details.strip())
    description = body.get("description")  # Enrich Layer: {"code", "description", "name"}
    if not parts and isinstance(description, str) and description.strip():
        parts.append(description.strip())
    return parts


def _top_level_messages(body: dict[str, Any]) -> list[str]:
    parts = []
    for key in ("error", "message", "title"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
        elif isinstance(value, dict):
            inner = value.get("message") or value.get("title")
            if isinstance(inner, str):
                parts.append(inner.strip())
    return parts


def _error_list(errors: Any) -> list[str]:
    """RFC 9457 style ``errors``: ``[{"title", "detail", "code"}]`` or plain strings (the first three)."""
    if not isinstance(errors, list):
        return []
    parts = []
    for item in errors[:3]:
        if isinstance(item, dict):
            bits = [str(item[k]) for k in ("title", "detail", "code") if item.get(k)]
            if bits:
                parts.append(" - ".join(dict.fromkeys(bits)))
        elif isinstance(item, str):
            parts.append(item)
    return parts


def _detail(detail: Any) -> list[str]:
    """FastAPI's ``detail``: a string, or ``[{"loc", "msg"}]`` validation errors (the first three)."""
    if isinstance(detail, str):
        return [detail]
    if not isinstance(detail, list):
        return []
    parts = []
    for item in detail[:3]:
        if isinstance(item, dict):
            loc = ".".join(str(x) for x in item.get("loc") or [] if x != "body")
            msg = str(item.get("msg") or item.get("type") or "invalid")
            parts.append(f"{loc}: {msg}" if loc else msg)
    return parts

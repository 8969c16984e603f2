"""The shared shapes and helpers: fingerprints, email kinds, Retry-After, error bodies, HTTP factory."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from enrichment_assets.vendors.base import (
    CallStatus,
    PhoneClaim,
    dedupe_exact,
    email_kind,
    request_fingerprint,
)
from enrichment_assets.vendors.errors import looks_like_credit_problem, parse_retry_after, vendor_message
from enrichment_assets.vendors.http import DEFAULT_TRANSPORT, build_async_client, build_transport


def test_call_status_values_and_stop_flag() -> None:
    assert CallStatus.UNAVAILABLE.value == "provider_unavailable"
    assert CallStatus.OUT_OF_CREDITS.stops_provider and CallStatus.UNAVAILABLE.stops_provider
    assert not CallStatus.ERROR.stops_provider and not CallStatus.FOUND.stops_provider


def test_request_fingerprint_is_canonical() -> None:
    a = request_fingerprint("leadmagic", "/v1/people/mobile-finder", {"profile_url": "u", "work_email": "e"})
    b = request_fingerprint("leadmagic", "/v1/people/mobile-finder", {"work_email": "e", "profile_url": "u"})
    assert a == b and len(a) == 64 and int(a, 16) >= 0
    assert a != request_fingerprint("pronto", "/v1/people/mobile-finder", {"profile_url": "u", "work_email": "e"})
    assert a != request_fingerprint("leadmagic", "/other", {"profile_url": "u", "work_email": "e"})
    assert a != request_fingerprint("leadmagic", "/v1/people/mobile-finder", {"profile_url": "u"})


@pytest.mark.parametrize(
    ("email", "domain", "kind"),
    [
        ("jane@acme.io", "acme.io", "work"),
        ("jane@eu.acme.io", "acme.io", "work"),
        ("jane@gmail.com", "acme.io", "personal"),
        ("jane@yahoo.co.uk", None, "personal"),
        ("jane@hotmail.fr", "acme.io", "personal"),
        ("jane@acme-group.com", "acme.io", "work"),
        (None, "acme.io", None),
    ],
)
def test_email_kind(email: str | None, domain: str | None, kind: str | None) -> None:
    assert email_kind(email, domain) == kind


def test_dedupe_exact_only_drops_exact_repeats() -> None:
    claims = [PhoneClaim("+1-555-0100"), PhoneClaim("+15550100"), PhoneClaim("+1-555-0100", "mobile")]
    assert [c.number for c in dedupe_exact(claims)] == ["+1-555-0100", "+15550100"]


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(3) == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31


def test_vendor_message_shapes() -> None:
    rfc = {"success": False, "errors": [{"type": "x", "title": "Invalid email", "status": 400, "code": "BAD_EMAIL"}],
           "meta": {"request_id": "r"}}
    assert "Invalid email" in vendor_message(rfc) and "BAD_EMAIL" in vendor_message(rfc)
    assert vendor_message({"message": "Insufficient credits"}) == "Insufficient credits"
    fastapi = {"detail": [{"loc": ["body", "record_id"], "msg": "field required", "type": "value_error.missing"}]}
    assert vendor_message(fastapi) == "record_id: field required"
    assert vendor_message(None, "<html>Bad gateway</html>") == "<html>Bad gateway</html>"


@pytest.mark.parametrize(
    ("message", "credit"),
    [
        ("Insufficient credits", True),
        ("insufficient credits to perform this request", True),
        ("You have run out of credits", True),
        ("Not enough credits: 3 required, 0 remaining", True),
        ("credit balance too low", True),
        ("You do not have access to contact enrich", False),
        ("Invalid API key", False),
        ("You can't use the personal email enrichment feature without consenting with our terms of use", False),
    ],
)
def test_credit_problem_wording(message: str, credit: bool) -> None:
    assert looks_like_credit_problem(message) is credit


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_http_factory_builds_pooled_clients(kind: str) -> None:
    client = build_async_client(base_url="http://127.0.0.1:1", timeout_seconds=3, max_concurrency=7,
                                headers={"X-Test": "1"}, transport=kind)
    async with client:
        assert str(client.base_url) == "http://127.0.0.1:1"
        assert client.timeout.read == 3
        assert client.headers["X-Test"] == "1"


def test_http_factory_rejects_unknown_transport_and_has_default() -> None:
    assert DEFAULT_TRANSPORT in ("aiohttp", "httpx")
    with pytest.raises(ValueError, match="unknown HTTP transport 'curl'"):
        build_transport("curl", 4)
    assert isinstance(build_transport("httpx", 4), httpx.AsyncHTTPTransport)


def test_enrichlayer_error_description_is_the_message() -> None:
    body = {"code": 403, "description": "Not enough credits", "name": "Forbidden"}
    assert vendor_message(body, "") == "Not enough credits"

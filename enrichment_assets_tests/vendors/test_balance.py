"""Balance reads: the documented endpoints and shapes, read defensively, never raising, never leaking the key."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.reconciliation import reconcile
from enrichment_assets.storage.balances import RunBalance
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.balance import credits_in, read_balance
from enrichment_assets_tests.vendors.helpers import KEY

CONFIG = parse_config({})


def _client(provider: str):
    return CLIENTS[provider](CONFIG.provider(provider), KEY)


def _read(provider: str, handler, path: str | None = "default"):
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    path = CONFIG.provider(provider).balance_path if path == "default" else path
    reading = asyncio.run(read_balance(_client(provider), path, transport=httpx.MockTransport(record)))
    return reading, seen


@pytest.mark.parametrize(("provider", "method_path", "auth", "answer", "headers", "credits"), [
    # Crustdata's credits page: GET /user/credits, Bearer auth, {"credits": <number, may be fractional>}.
    ("crustdata", "GET /user/credits", ("authorization", f"Bearer {KEY}"), {"credits": 9406}, {}, 9406.0),
    ("crustdata", "GET /user/credits", ("authorization", f"Bearer {KEY}"), {"credits": 12.5}, {}, 12.5),
    # Enrich Layer's Meta API: GET /api/v2/credit-balance, Bearer auth; its client library reads credit_balance.
    ("enrichlayer", "GET /api/v2/credit-balance", ("authorization", f"Bearer {KEY}"), {"credit_balance": 100000},
     {}, 100000.0),
    # LeadMagic: GET /v1/credits with X-API-Key; {"credits": 7333.8, "credits_liquid": ...}.
    ("leadmagic", "GET /v1/credits", ("x-api-key", KEY), {"credits": 7333.8, "is_frozen": False,
                                                           "credits_frozen": 0, "credits_liquid": 7333.8}, {}, 7333.8),
    # A body without a known field, but the X-Credits-Remaining header LeadMagic documents on every answer.
    ("leadmagic", "GET /v1/credits", ("x-api-key", KEY), {"ok": True}, {"X-Credits-Remaining": "15432.50"}, 15432.5),
])
def test_documented_balance_endpoints(provider, method_path, auth, answer, headers, credits) -> None:
    reading, seen = _read(provider, lambda r: httpx.Response(200, json=answer, headers=headers))
    (request,) = seen
    assert f"{request.method} {request.url.path}" == method_path
    assert request.headers[auth[0]] == auth[1]
    assert request.content == b""
    assert reading.credits == credits and reading.error is None and reading.source.startswith(method_path)


def test_vendors_without_a_balance_source_are_not_asked() -> None:
    for provider in ("lantern", "pronto"):
        reading, seen = _read(provider, lambda r: httpx.Response(200, json={"credits": 5}))
        assert seen == [] and reading.credits is None and reading.source == "none"
        assert f"providers.{provider}.balance_path" in reading.error


@pytest.mark.parametrize("answer", [
    {"balance": {"amount": "n/a"}}, {"credits": "plenty"}, {"credits": True}, [1, 2], '{"credits": NaN}',
    "not json",
])
def test_unknown_shapes_give_no_figure_and_say_why(answer) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=answer) if isinstance(answer, str) else httpx.Response(200, json=answer)

    reading, _ = _read("crustdata", respond)
    assert reading.credits is None and "no balance figure" in reading.error


def test_errors_and_failures_give_no_figure_and_never_the_key() -> None:
    reading, _ = _read("crustdata", lambda r: httpx.Response(401, json={"message": "Invalid API key in request"}))
    assert reading.credits is None and reading.error == "HTTP 401: Invalid API key in request"

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {KEY}")

    reading, _ = _read("enrichlayer", boom)
    assert reading.credits is None and "ConnectError" in reading.error and KEY not in reading.error


def test_nested_balance_and_header_fallback() -> None:
    assert credits_in({"account": {"credits": 42, "recurring_credits": 1000}}) == (42.0, "account.credits")
    assert credits_in({"credits_remaining": "7"}) == (7.0, "credits_remaining")
    assert credits_in(None, {"x-credits-remaining": "3"}) == (3.0, "X-Credits-Remaining header")
    assert credits_in({"credits": None}) == (None, None)


def _balance(before, after, booked, unknown=0.0, vendor_reported=False, overlapping=()):
    return RunBalance("enrichlayer", before, after, None, None, None, "GET /api/v2/credit-balance", booked, unknown,
                      3, vendor_reported, overlapping)


def test_reconcile_verdicts() -> None:
    config = CONFIG.provider("enrichlayer")
    ok = reconcile(_balance(100, 88, 12), config)
    assert ok.status == "ok" and ok.ratio == 1.0
    # Twice what was booked: the ratio, the pricing key to look at, and the other-user caveat.
    doubled = reconcile(_balance(100, 76, 12, overlapping=("abcdef123456",)), config)
    assert doubled.status == "warn" and doubled.ratio == 2.0
    assert "ratio 2.0" in doubled.message and "providers.enrichlayer.pricing (per_number: 1)" in doubled.message
    assert "another user of the same API key" in doubled.message and "abcdef12" in doubled.message
    # Booked more than charged.
    assert reconcile(_balance(100, 94, 12), config).ratio == 0.5
    # Unknown outcomes: anything between the certain credits and their worst case matches.
    assert reconcile(_balance(100, 85, 12, unknown=3), config).status == "ok"
    assert reconcile(_balance(100, 84, 12, unknown=3), config).status == "warn"
    # A top-up during the run, or a missing figure: unverifiable, not a warning.
    assert reconcile(_balance(100, 150, 12), config).status == "unverifiable"
    assert reconcile(_balance(None, 88, 12), config).status == "unverifiable"
    # Nothing booked, nothing dropped.
    assert reconcile(_balance(50, 50, 0), config).status == "ok"
    nothing_booked = reconcile(_balance(50, 45, 0), config)
    assert nothing_booked.status == "warn" and "no credits booked" in nothing_booked.message

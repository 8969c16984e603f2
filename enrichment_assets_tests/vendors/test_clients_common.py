"""Behaviour every vendor client shares, checked for all five over httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest

from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.vendors.base import CallStatus, ListJournal
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.registry import PROVIDER_NAMES

from .helpers import FOUND_BODY, KEY, LEAD, NOT_FOUND_BODY, MockVendor, SleepRecorder, config, lookup, make_client

pytestmark = pytest.mark.anyio
PROVIDERS = list(PROVIDER_NAMES)
#: Vendors whose failed answers are asked again in the run: Enrich Layer documents its 5xx as never billed,
#: Lantern bills a repeated question (same record_id) once. The others leave an unknown outcome to the next run.
ASKED_AGAIN_AFTER_5XX = {"enrichlayer", "lantern"}
ASKED_AGAIN_AFTER_UNKNOWN = {"lantern"}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_found_and_not_found(provider: str) -> None:
    vendor = MockVendor(
        httpx.Response(200, json=FOUND_BODY[provider]), httpx.Response(200, json=NOT_FOUND_BODY[provider])
    )
    async with make_client(provider, vendor) as client:
        found = await lookup(client)
        missing = await lookup(client)
    assert found.status is CallStatus.FOUND and found.phones and found.error is None
    assert found.http_status == 200 and found.provider == provider
    assert missing.status is CallStatus.NOT_FOUND and missing.phones == [] and missing.error is None
    assert vendor.count == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_journal_sent_before_request_and_finished_after(provider: str) -> None:
    journal = ListJournal()
    # A 429 is asked again by every client (the vendor did not do the work).
    vendor = MockVendor(httpx.Response(429, json={"error": "busy"}), httpx.Response(200, json=FOUND_BODY[provider]),
                        journal=journal)
    async with make_client(provider, vendor, journal=journal) as client:
        result = await lookup(client)
        fingerprint = client.fingerprint(LEAD)
    assert vendor.sent_before_request == [True, True]
    assert [kind for kind, _ in journal.events] == ["sent", "finished", "sent", "finished"]
    assert result.attempts == journal.attempts and len(result.attempts) == 2
    first, second = result.attempts
    assert first.attempt_id != second.attempt_id and len(first.attempt_id) == 32
    assert (first.http_status, second.http_status) == (429, 200)
    assert first.error and "429" in first.error and second.error is None
    for attempt in result.attempts:
        assert attempt.provider == provider and attempt.endpoint == client.endpoint
        assert attempt.request_fingerprints == [fingerprint]
        assert attempt.sent_at.tzinfo is not None and attempt.finished_at >= attempt.sent_at
    assert result.status is CallStatus.FOUND


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_waits_for_retry_after_header(provider: str) -> None:
    sleep = SleepRecorder()
    vendor = MockVendor(httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
                        httpx.Response(200, json=FOUND_BODY[provider]))
    async with make_client(provider, vendor, sleep=sleep) as client:
        result = await lookup(client)
    assert result.status is CallStatus.FOUND and vendor.count == 2
    assert [a.http_status for a in result.attempts] == [429, 200]
    assert any(6.9 <= w <= 7.0 for w in sleep.waits), sleep.waits


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_pause_holds_back_other_requests(provider: str) -> None:
    """A Retry-After applies to the whole client: a request starting during the pause waits too."""
    sleep = SleepRecorder()
    vendor = MockVendor(
        httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(200, json=FOUND_BODY[provider])
    )
    async with make_client(provider, vendor, sleep=sleep, max_rate_limit_retries=0) as client:
        first = await lookup(client)
        second = await lookup(client)
    assert first.status is CallStatus.ERROR and first.http_status == 429 and "gave up" in first.error
    assert second.status is CallStatus.FOUND
    assert any(4.9 <= w <= 5.0 for w in sleep.waits), sleep.waits


@pytest.mark.parametrize("provider", ["leadmagic", "crustdata"])
async def test_429_without_retry_after_backs_off_and_is_bounded(provider: str) -> None:
    sleep = SleepRecorder()
    vendor = MockVendor(httpx.Response(429))
    async with make_client(provider, vendor, sleep=sleep, max_rate_limit_retries=3) as client:
        result = await lookup(client)
    assert result.status is CallStatus.ERROR and result.http_status == 429
    assert vendor.count == 4 and len(result.attempts) == 4
    assert len(sleep.waits) == 3 and all(0 < w < 0.01 for w in sleep.waits)


async def test_429_asking_longer_than_the_cap_is_an_error_at_once() -> None:
    sleep = SleepRecorder()
    vendor = MockVendor(httpx.Response(429, headers={"Retry-After": "3600"}))
    async with make_client("leadmagic", vendor, sleep=sleep, max_retry_after=60) as client:
        result = await lookup(client)
    assert result.status is CallStatus.ERROR and vendor.count == 1
    assert "3600" in result.error and sleep.waits == []
    assert client.stopped is None


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("code", [500, 502, 503, 408])
async def test_5xx_is_asked_again_only_where_a_repeat_cannot_bill_twice(provider: str, code: int) -> None:
    sleep = SleepRecorder()
    vendor = MockVendor(httpx.Response(code, json={"error": "internal"}))
    async with make_client(provider, vendor, cfg=config(max_retries=2), sleep=sleep) as client:
        result = await lookup(client)
    assert result.http_status == code and client.stopped is None
    if provider in ASKED_AGAIN_AFTER_5XX:
        assert vendor.count == 3 and len(result.attempts) == 3  # 1 + max_retries
        assert "gave up after 3 attempts" in result.error
        assert len(sleep.waits) == 2 and sleep.waits[0] <= sleep.waits[1] + 0.001 + 1e-9
    else:
        assert vendor.count == 1 and sleep.waits == []
        assert "not asked again in this run" in result.error
    if provider == "enrichlayer":  # documented as never billed: the record's error, at no cost
        assert result.status is CallStatus.ERROR
        assert {a.outcome for a in result.attempts} == {LedgerOutcome.ERROR}
    else:  # the vendor may have done (and billed) the work
        assert result.status is CallStatus.UNKNOWN
        assert {a.outcome for a in result.attempts} == {LedgerOutcome.UNKNOWN}


@pytest.mark.parametrize("provider", sorted(ASKED_AGAIN_AFTER_5XX))
async def test_5xx_then_success(provider: str) -> None:
    vendor = MockVendor(httpx.Response(500), httpx.Response(502), httpx.Response(200, json=FOUND_BODY[provider]))
    async with make_client(provider, vendor, cfg=config(max_retries=2)) as client:
        result = await lookup(client)
    assert result.status is CallStatus.FOUND and vendor.count == 3 and len(result.attempts) == 3


async def test_max_retries_zero_means_one_attempt() -> None:
    vendor = MockVendor(httpx.Response(500))
    async with make_client("lantern", vendor, cfg=config(max_retries=0)) as client:
        result = await lookup(client)
    assert result.status is CallStatus.UNKNOWN and vendor.count == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_never_sent_is_asked_again_and_sent_without_answer_is_unknown(provider: str) -> None:
    vendor = MockVendor(httpx.ConnectError("refused"), httpx.ConnectTimeout("connect"), httpx.ReadTimeout("read"),
                        httpx.ReadTimeout("read"))
    async with make_client(provider, vendor, cfg=config(max_retries=3)) as client:
        result = await lookup(client)
    assert result.http_status is None and all(a.http_status is None for a in result.attempts)
    assert "not sent" in result.attempts[0].error and "ConnectError" in result.attempts[0].error
    assert [a.outcome for a in result.attempts[:3]] == [LedgerOutcome.ERROR, LedgerOutcome.ERROR,
                                                         LedgerOutcome.UNKNOWN]
    assert result.status is CallStatus.UNKNOWN and "timeout" in result.attempts[2].error
    # A read timeout may have been billed: asked again at once only where a repeat is billed once.
    assert vendor.count == (4 if provider in ASKED_AGAIN_AFTER_UNKNOWN else 3)


async def test_deadline_covers_a_slow_vendor() -> None:
    """A vendor slower than the deadline: each attempt times out. Had the client waited, it would have got the
    vendor's 200 (FOUND) instead of timeouts. A timeout after sending is unknown (the vendor may have billed it);
    Lantern asks again at once (it bills a repeated record_id once)."""
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["lantern"]))
    vendor.delay = 1.0
    async with make_client("lantern", vendor, cfg=config(timeout_seconds=0.05, max_retries=1)) as client:
        result = await lookup(client)
    assert result.status is CallStatus.UNKNOWN and vendor.count == 2
    assert all(a.finished_at is not None and a.http_status is None and "timeout" in a.error
               for a in result.attempts)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_402_stops_the_provider(provider: str) -> None:
    vendor = MockVendor(httpx.Response(402, json={"message": "Payment required"}))
    async with make_client(provider, vendor) as client:
        first = await lookup(client)
        second = await lookup(client)
    assert first.status is CallStatus.OUT_OF_CREDITS and first.http_status == 402 and len(first.attempts) == 1
    assert second.status is CallStatus.OUT_OF_CREDITS and second.attempts == [] and second.http_status is None
    assert vendor.count == 1
    assert client.stopped is CallStatus.OUT_OF_CREDITS


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_401_is_said_once(provider: str, caplog: pytest.LogCaptureFixture) -> None:
    vendor = MockVendor(httpx.Response(401, json={"error": "Invalid API key", "message": "Invalid API key"}))
    vendor.delay = 0.01
    caplog.set_level(logging.DEBUG, logger="enrichment_assets.vendors")
    async with make_client(provider, vendor, cfg=config(max_concurrency=4)) as client:
        results = await asyncio.gather(*(lookup(client) for _ in range(10)))
        later = await lookup(client)
    assert all(r.status is CallStatus.UNAVAILABLE for r in [*results, later])
    assert later.attempts == []
    assert 1 <= vendor.count <= 4  # only those already in flight when the first 401 came back
    errors = [r for r in caplog.records if r.name == "enrichment_assets.vendors" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and provider in errors[0].getMessage() and "unavailable" in errors[0].getMessage()


@pytest.mark.parametrize("provider", ["leadmagic", "pronto", "lantern"])
async def test_other_403_is_unavailable(provider: str) -> None:
    vendor = MockVendor(httpx.Response(403, json={"message": "Forbidden: this key has no access to the endpoint"}))
    async with make_client(provider, vendor) as client:
        result = await lookup(client)
        again = await lookup(client)
    assert result.status is CallStatus.UNAVAILABLE and again.status is CallStatus.UNAVAILABLE and vendor.count == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("code", [400, 422])
async def test_400_and_422_are_the_records_error(provider: str, code: int) -> None:
    vendor = MockVendor(httpx.Response(code, json={"message": "bad input"}),
                        httpx.Response(200, json=FOUND_BODY[provider]))
    async with make_client(provider, vendor) as client:
        bad = await lookup(client)
        good = await lookup(client)
    assert bad.status is CallStatus.ERROR and bad.http_status == code and len(bad.attempts) == 1
    assert "bad input" in bad.error
    assert good.status is CallStatus.FOUND and vendor.count == 2 and client.stopped is None


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"numbers": [', b""])
async def test_malformed_json_is_an_unknown_outcome_kept_as_received(provider: str, body: bytes) -> None:
    journal = ListJournal()
    vendor = MockVendor(httpx.Response(200, content=body, headers={"content-type": "application/json"}))
    async with make_client(provider, vendor, journal=journal) as client:
        result = await lookup(client)
    # A 2xx the vendor may have billed, garbled on the way: unknown, asked again at once only by Lantern.
    assert result.status is CallStatus.UNKNOWN and vendor.count == (3 if provider == "lantern" else 1)
    assert "malformed JSON" in result.error and result.http_status == 200
    assert result.raw == (body.decode() or None)
    assert {a.error for a in result.attempts} == {"malformed JSON in response (kept as received)"}
    assert all(a.outcome is LedgerOutcome.UNKNOWN and a.answer.content == body for a in result.attempts)


async def test_malformed_then_good_is_found_where_a_repeat_is_billed_once() -> None:
    vendor = MockVendor(httpx.Response(200, content=b'{"numb', headers={"content-type": "application/json"}),
                        httpx.Response(200, json=FOUND_BODY["lantern"]))
    async with make_client("lantern", vendor) as client:
        result = await lookup(client)
    assert result.status is CallStatus.FOUND and vendor.count == 2
    assert [a.error for a in result.attempts] == ["malformed JSON in response (kept as received)", None]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", ["just a string", 42, {"unexpected": True}, [1, 2]])
async def test_unexpected_shape_is_an_error(provider: str, body: object) -> None:
    vendor = MockVendor(httpx.Response(200, json=body))
    async with make_client(provider, vendor) as client:
        result = await lookup(client)
    # An object without the vendor's fields is "nothing found" for the vendors whose fields are all optional.
    lenient = isinstance(body, dict) and provider in ("leadmagic", "pronto", "lantern")
    assert result.status is (CallStatus.NOT_FOUND if lenient else CallStatus.ERROR)
    if not lenient:
        assert "unexpected response shape" in result.error


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_ineligible_lead_makes_no_request(provider: str) -> None:
    from enrichment_assets.leads.model import Lead

    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY[provider]))
    empty = Lead(list_id="l", record_id="x", first_name="Jo")
    async with make_client(provider, vendor) as client:
        assert client.ineligible_reason(empty)
        result = await lookup(client, empty)
    assert result.status is CallStatus.ERROR and result.error.startswith("ineligible") and vendor.count == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_secrets_and_pii_never_leak(provider: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"message": f"bad key {KEY} for jane.doe@acme.io, +14155550123", "error": f"Bearer {KEY}",
            "errors": [{"title": f"key {KEY}"}]}
    vendor = MockVendor(
        httpx.Response(429, json=echo),
        httpx.ConnectError(f"cannot reach https://vendor.test/x?profile_url={LEAD.linkedin_url}&key={KEY}"),
        httpx.Response(400, json=echo),
        httpx.Response(401, json=echo),
    )
    async with make_client(provider, vendor, cfg=config(max_retries=0)) as client:
        gave_up = await lookup(client)
        bad = await lookup(client)
        unauthorized = await lookup(client)
        texts = [repr(client), str(client), repr(client._key), str(vars(client).get("_key"))]
    for result in (gave_up, bad, unauthorized):
        texts += [result.error or "", repr(result), json.dumps(result.raw, default=str)]
        texts += [a.error or "" for a in result.attempts]
    texts.append(caplog.text)
    blob = "\n".join(texts)
    assert KEY not in blob and "ZZTOPSECRET" not in blob
    errors_only = "\n".join([r.error or "" for r in (gave_up, bad, unauthorized)] + [caplog.text])
    for pii in ("jane.doe@acme.io", "4155550123", "jane-doe-4711"):
        assert pii not in errors_only
    assert unauthorized.status is CallStatus.UNAVAILABLE


@pytest.mark.parametrize("provider", ["leadmagic", "enrichlayer"])
async def test_concurrency_is_bounded(provider: str) -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY[provider]))
    vendor.delay = 0.02
    async with make_client(provider, vendor, cfg=config(max_concurrency=2)) as client:
        results = await asyncio.gather(*(lookup(client) for _ in range(8)))
    assert all(r.status is CallStatus.FOUND for r in results)
    assert vendor.max_in_flight == 2


async def test_rate_limit_spaces_requests() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["lantern"]))
    async with make_client("lantern", vendor, cfg=config(rate_limit_per_second=50, burst=1)) as client:
        started = time.monotonic()
        await asyncio.gather(*(lookup(client) for _ in range(6)))
        elapsed = time.monotonic() - started
    assert vendor.count == 6 and elapsed >= 0.08  # 5 gaps of 1/50 s after the first token


async def test_client_opens_lazily_and_closes() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["leadmagic"]))
    client = make_client("leadmagic", vendor)
    result = await client.lookup(LEAD)
    assert result.status is CallStatus.FOUND
    await client.aclose()
    assert client._client is None


def test_constructor_requires_a_key() -> None:
    from enrichment_assets.vendors import CLIENTS

    for cls in CLIENTS.values():
        with pytest.raises(ValueError, match="an API key is required"):
            cls(config(), "", "https://x.test")
        assert issubclass(cls, VendorClient)
        assert cls.default_base_url.startswith("https://")

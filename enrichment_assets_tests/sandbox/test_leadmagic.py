"""LeadMagic: POST /v1/people/mobile-finder."""

from __future__ import annotations

import httpx

from enrichment_assets.sandbox import SandboxServer, World
from enrichment_assets.sandbox.rate_limit import RateLimiter
from enrichment_assets.sandbox.world import dashed

from .helpers import configure, find, stats

PATH = "/v1/people/mobile-finder"


def post(client: httpx.Client, body: object, key: str | None = "k", header: str = "X-API-Key") -> httpx.Response:
    return client.post(PATH, json=body, headers={header: key} if key else {})


def test_found_mobile_dashed_5_credits_with_headers(client: httpx.Client, world: World) -> None:
    person = find(world, "leadmagic", lambda p, k: k.mobile)
    configure(client, {"vendors": {"leadmagic": {"balance": 100}}})
    response = post(client, {"profile_url": f"linkedin.com/in/{person.linkedin_slug}"}, header="x-api-key")
    assert response.status_code == 200
    assert response.json() == {"profile_url": f"linkedin.com/in/{person.linkedin_slug}", "email": None,
                               "mobile_number": dashed(person.mobile), "credits_consumed": 5,
                               "message": "Mobile number found."}
    assert response.headers["X-Credits-Cost"] == "5" and response.headers["X-Credits-Remaining"] == "95"
    assert response.headers["RateLimit-Limit"] == "3000"
    assert stats(client, "leadmagic")["credits_charged"] == 5


def test_identifiers_any_form_and_not_found_free(client: httpx.Client, world: World) -> None:
    person = find(world, "leadmagic", lambda p, k: k.mobile)
    for body in ({"profile_url": person.linkedin_slug}, {"profile_url": person.linkedin_url.upper()},
                 {"work_email": person.work_email}, {"personal_email": person.personal_email},
                 {"profile_url": "nobody-at-all", "work_email": person.work_email}):
        data = post(client, body).json()
        assert data["mobile_number"] == dashed(person.mobile), body
    assert post(client, {"work_email": person.work_email}).json()["email"] == person.work_email
    miss = find(world, "leadmagic", lambda p, k: not k.mobile)
    response = post(client, {"profile_url": miss.linkedin_url})
    assert response.json() == {"profile_url": miss.linkedin_url, "email": None, "mobile_number": None,
                               "credits_consumed": 0, "message": "No mobile number found for this contact."}
    assert response.headers["X-Credits-Cost"] == "0"
    assert stats(client, "leadmagic")["credits_charged"] == 6 * 5


def test_errors_are_rfc9457_style_with_message(client: httpx.Client) -> None:
    for body in ({}, {"profile_url": ""}, {"work_email": "not-an-email"}, {"profile_url": "https://x.com/in/a/b"}):
        response = post(client, body)
        assert response.status_code == 400, body
        data = response.json()
        assert data["success"] is False and data["message"]
        error = data["errors"][0]
        assert set(error) == {"type", "title", "status", "code", "docs"} and error["status"] == 400
        assert data["meta"]["request_id"]
    configure(client, {"vendors": {"leadmagic": {"api_key": "lm-secret"}}})
    assert post(client, {"profile_url": "x"}, key=None).status_code == 401
    assert post(client, {"profile_url": "x"}, key="bad").json()["errors"][0]["status"] == 401
    assert post(client, {"profile_url": "x"}, key="lm-secret", header="X-API-KEY").status_code == 200


def test_402_when_balance_below_5(client: httpx.Client, world: World) -> None:
    person = find(world, "leadmagic", lambda p, k: k.mobile)
    configure(client, {"vendors": {"leadmagic": {"balance": 7}}})
    assert post(client, {"profile_url": person.linkedin_slug}).status_code == 200
    response = post(client, {"profile_url": person.linkedin_slug})
    assert response.status_code == 402
    assert response.json()["errors"][0]["code"] == "insufficient_credits"
    assert response.headers["X-Credits-Remaining"] == "2"
    counters = stats(client, "leadmagic")
    assert counters["credits_charged"] == 5 and counters["balance"] == 2
    assert counters["by_status"] == {"200": 1, "402": 1}


def test_429_with_retry_after_and_ratelimit_headers(client: httpx.Client) -> None:
    configure(client, {"vendors": {"leadmagic": {"rate_limit": {"requests_per_second": None, "window_limit": 2,
                                                                "window_seconds": 60}}}})
    assert [post(client, {"profile_url": "x"}).status_code for _ in range(2)] == [200, 200]
    response = post(client, {"profile_url": "x"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Limit"] == "2"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert response.json()["errors"][0]["status"] == 429


def test_default_burst_is_50_then_50_per_second(sandbox: SandboxServer, client: httpx.Client) -> None:
    """The documented bucket: 50 at once, then 50 a second. The bucket's clock is the test's, so the counts
    do not depend on how fast this machine sends the requests."""
    now = [0.0]
    vendor = sandbox.state.vendor("leadmagic")
    vendor.limiter = RateLimiter(vendor.config.rate_limit, clock=lambda: now[0])
    statuses = [post(client, {"profile_url": "x"}).status_code for _ in range(60)]
    assert statuses == [200] * 50 + [429] * 10
    now[0] += 0.5  # half a second later: 25 more
    statuses = [post(client, {"profile_url": "x"}).status_code for _ in range(30)]
    assert statuses == [200] * 25 + [429] * 5

"""Enrich Layer: GET /api/v2/contact-api/personal-contact."""

from __future__ import annotations

import httpx

from enrichment_assets.sandbox import World

from .helpers import bearer, configure, find, stats

PATH = "/api/v2/contact-api/personal-contact"


def get(client: httpx.Client, profile_url: str, page_size: int | None = None, key: str | None = "k") -> httpx.Response:
    params = {"profile_url": profile_url} | ({"page_size": str(page_size)} if page_size is not None else {})
    return client.get(PATH, params=params, headers=bearer(key) if key else {})


def test_found_numbers_in_storage_order_and_charged_per_number(client: httpx.Client, world: World) -> None:
    person = find(world, "enrichlayer", lambda p, k: len(k.phones) == 3)
    response = get(client, person.linkedin_url)
    assert response.status_code == 200
    assert response.json() == {"numbers": [person.switchboard, person.office, person.mobile]}
    assert stats(client, "enrichlayer")["credits_charged"] == 3

    # page_size caps the numbers and the cost; URL variants reach the same profile.
    response = get(client, f"linkedin.com/in/{person.linkedin_slug}/", page_size=2)
    assert response.json() == {"numbers": [person.switchboard, person.office]}
    assert stats(client, "enrichlayer")["credits_charged"] == 5


def test_known_profile_without_numbers_is_200_empty_and_free(client: httpx.Client, world: World) -> None:
    person = find(world, "enrichlayer", lambda p, k: k.profile and not k.phones)
    response = get(client, person.linkedin_url, page_size=3)
    assert response.status_code == 200 and response.json() == {"numbers": []}
    assert stats(client, "enrichlayer")["credits_charged"] == 0


def test_unknown_profile_is_404_and_free(client: httpx.Client, world: World) -> None:
    person = find(world, "enrichlayer", lambda p, k: not k.profile)
    for url in (person.linkedin_url, "https://www.linkedin.com/in/nobody-in-this-world"):
        response = get(client, url)
        assert response.status_code == 404
        assert response.json() == {"code": 404, "description": "Person not found", "name": "Not Found"}
    assert stats(client, "enrichlayer")["credits_charged"] == 0


def test_auth_and_validation(client: httpx.Client, world: World) -> None:
    person = world.people[0]
    known = world.knowledge("enrichlayer", person)
    found_status = 200 if known.profile else 404
    url = person.linkedin_url
    assert get(client, url, key=None).status_code == 401
    assert client.get(PATH, params={"profile_url": url}, headers={"Authorization": "Token k"}).status_code == 401
    configure(client, {"vendors": {"enrichlayer": {"api_key": "right-key"}}})
    response = get(client, url, key="wrong-key")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "description": "Invalid API Key", "name": "Unauthorized"}
    assert get(client, url, key="right-key").status_code == found_status
    assert client.get(PATH, headers=bearer("right-key")).status_code == 400
    assert get(client, "jane-doe", key="right-key").status_code == 400          # a bare slug is not a URL
    assert get(client, "https://example.com/in/x", key="right-key").status_code == 400
    response = client.get(PATH, params={"profile_url": url, "page_size": "-1"}, headers=bearer("right-key"))
    assert response.status_code == 400 and response.json()["code"] == 400
    counters = stats(client, "enrichlayer")
    assert counters["by_status"] == {"400": 4, "401": 3, str(found_status): 1}
    assert counters["credits_charged"] == len(known.phones)


def test_out_of_credits_is_403_and_uncharged(client: httpx.Client, world: World) -> None:
    person = find(world, "enrichlayer", lambda p, k: len(k.phones) == 3)
    configure(client, {"vendors": {"enrichlayer": {"balance": 2}}})
    # Worst case 3 numbers > 2 credits: refused, nothing charged.
    response = get(client, person.linkedin_url, page_size=3)
    assert response.status_code == 403
    assert response.json()["description"] == "Not enough credits"
    assert get(client, person.linkedin_url, page_size=2).json() == {"numbers": [person.switchboard, person.office]}
    counters = stats(client, "enrichlayer")
    assert counters["balance"] == 0 and counters["credits_charged"] == 2
    # At zero balance every call is refused, even one that would return nothing.
    empty = find(world, "enrichlayer", lambda p, k: k.profile and not k.phones)
    assert get(client, empty.linkedin_url).status_code == 403
    assert get(client, "https://www.linkedin.com/in/nobody-in-this-world").status_code == 403
    configure(client, {"vendors": {"enrichlayer": {"balance": 10}}})
    assert get(client, person.linkedin_url).status_code == 200
    assert stats(client, "enrichlayer")["balance"] == 7


def test_rate_limit_429_with_retry_after(client: httpx.Client, world: World) -> None:
    configure(client, {"vendors": {"enrichlayer": {"rate_limit": {"window_limit": 3, "window_seconds": 300}}}})
    url = world.people[0].linkedin_url
    statuses = [get(client, url).status_code for _ in range(3)]
    assert 429 not in statuses
    response = get(client, url)
    assert response.status_code == 429
    assert 295 <= int(response.headers["Retry-After"]) <= 300
    assert response.json()["code"] == 429
    counters = stats(client, "enrichlayer")
    assert counters["rate_limited"] == 1 and counters["by_status"]["429"] == 1

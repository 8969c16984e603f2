"""Crustdata: POST /person/contact/enrich."""

from __future__ import annotations

import httpx

from enrichment_assets.sandbox import World
from enrichment_assets.sandbox.world import dashed

from .helpers import VERSION, bearer, configure, find, stats

PATH = "/person/contact/enrich"


def post(client: httpx.Client, body: object, headers: dict | None = None) -> httpx.Response:
    return client.post(PATH, json=body, headers=bearer() | VERSION if headers is None else headers)


def test_batch_results_in_request_order_with_only_requested_fields(client: httpx.Client, world: World) -> None:
    both = find(world, "crustdata", lambda p, k: len(k.phones) == 2)
    matched_no_phone = find(world, "crustdata", lambda p, k: k.profile and not k.phones)
    unmatched = find(world, "crustdata", lambda p, k: not k.profile)
    urls = [both.linkedin_url, f"linkedin.com/in/{unmatched.linkedin_slug}", matched_no_phone.linkedin_url,
            "https://www.linkedin.com/in/not-a-person-here"]
    response = post(client, {"professional_network_profile_urls": urls, "fields": ["contact.phone_numbers"]})
    assert response.status_code == 200
    results = response.json()
    assert [r["matched_on"] for r in results] == urls
    assert all(r["match_type"] == "professional_network_profile_url" for r in results)
    first = results[0]["matches"][0]
    assert first["confidence_score"] == 1.0
    assert first["person_data"]["contact"] == {"phone_numbers": [dashed(both.mobile), dashed(both.office)]}
    assert first["person_data"]["contact"]["phone_numbers"][0].count("-") >= 2
    assert isinstance(first["person_data"]["crustdata_person_id"], int)
    assert results[1]["matches"] == [] and results[3]["matches"] == []
    assert results[2]["matches"][0]["person_data"]["contact"] == {"phone_numbers": []}
    # Two matched identifiers x (1 base + 2 phone) = 6; unmatched are free.
    assert stats(client, "crustdata")["credits_charged"] == 6


def test_contact_means_all_fields_capped_at_7(client: httpx.Client, world: World) -> None:
    person = find(world, "crustdata", lambda p, k: k.profile and k.work_email and k.personal_email)
    known = world.knowledge("crustdata", person)
    response = post(client, {"professional_network_profile_urls": [person.linkedin_url], "fields": ["contact"]})
    contact = response.json()[0]["matches"][0]["person_data"]["contact"]
    assert set(contact) == {"business_emails", "personal_emails", "phone_numbers", "websites"}
    assert contact["business_emails"] == [{"email": person.work_email, "status": known.work_email_status}]
    assert contact["personal_emails"][0]["email"] == person.personal_email
    assert stats(client, "crustdata")["credits_charged"] == 7   # 1 + 2 + 2 + 1 + 1 = 7, the cap
    # fields omitted = contact; sub-fields add up: 1 + 1 (business) + 1 (websites) = 3.
    post(client, {"professional_network_profile_urls": [person.linkedin_url]})
    post(client, {"professional_network_profile_urls": [person.linkedin_url],
                  "fields": ["contact.business_emails", "contact.websites"]})
    assert stats(client, "crustdata")["credits_charged"] == 7 + 7 + 3


def test_reverse_lookup_by_business_email(client: httpx.Client, world: World) -> None:
    person = find(world, "crustdata", lambda p, k: k.profile and k.work_email and k.phones)
    response = post(client, {"business_emails": [person.work_email.upper(), person.personal_email],
                             "fields": ["contact.phone_numbers"]})
    results = response.json()
    assert results[0]["match_type"] == "business_email" and results[0]["matches"]
    assert results[1]["matches"] == []   # a personal email is not a business email on file
    assert stats(client, "crustdata")["credits_charged"] == 3


def test_validation_errors_are_400(client: httpx.Client, world: World) -> None:
    url = world.people[0].linkedin_url
    cases = [
        {},
        {"professional_network_profile_urls": [url], "business_emails": ["a@b.co"]},
        {"professional_network_profile_urls": []},
        {"professional_network_profile_urls": [url] * 26},
        {"professional_network_profile_urls": ["not a url"]},
        {"business_emails": ["not-an-email"]},
    ]
    for body in cases:
        response = post(client, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request"
    response = post(client, {"professional_network_profile_urls": [url], "fields": ["contact", "basic_profile"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["metadata"]["invalid_fields"] == ["basic_profile"]
    assert set(error["metadata"]["valid_fields"]) == {"contact", "contact.business_emails",
                                                      "contact.personal_emails", "contact.phone_numbers",
                                                      "contact.websites"}
    for headers in (bearer(), bearer() | {"x-api-version": "2024-01-01"}):
        assert post(client, {"professional_network_profile_urls": [url]}, headers=headers).status_code == 400
    assert stats(client, "crustdata")["credits_charged"] == 0


def test_auth_and_access(client: httpx.Client, world: World) -> None:
    body = {"professional_network_profile_urls": [world.people[0].linkedin_url]}
    configure(client, {"vendors": {"crustdata": {"api_key": "cd-secret"}}})
    assert post(client, body, headers=VERSION).status_code == 401
    assert post(client, body, headers=bearer("nope") | VERSION).status_code == 401
    assert post(client, body, headers={"authorization": "Bearer cd-secret"} | VERSION).status_code == 200
    configure(client, {"vendors": {"crustdata": {"contact_access": False}}})
    response = post(client, body, headers=bearer("cd-secret") | VERSION)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_denied"


def test_insufficient_credits_is_403_for_the_worst_case_and_charges_nothing(client: httpx.Client,
                                                                            world: World) -> None:
    configure(client, {"vendors": {"crustdata": {"balance": 8}}})
    urls = [p.linkedin_url for p in world.people[:3]]
    response = post(client, {"professional_network_profile_urls": urls, "fields": ["contact.phone_numbers"]})
    assert response.status_code == 403     # worst case 3 x 3 = 9 > 8
    assert response.json()["error"]["type"] == "insufficient_credits"
    assert stats(client, "crustdata")["balance"] == 8
    response = post(client, {"professional_network_profile_urls": urls[:2], "fields": ["contact.phone_numbers"]})
    assert response.status_code == 200
    matched = sum(1 for r in response.json() if r["matches"])
    counters = stats(client, "crustdata")
    assert counters["credits_charged"] == 3 * matched and counters["balance"] == 8 - 3 * matched


def test_default_rate_limit_15_per_minute_with_headers(client: httpx.Client, world: World) -> None:
    body = {"professional_network_profile_urls": [world.people[0].linkedin_url],
            "fields": ["contact.phone_numbers"]}
    responses = [post(client, body) for _ in range(15)]
    assert [r.status_code for r in responses] == [200] * 15
    assert responses[0].headers["x-ratelimit-limit"] == "15"
    assert responses[0].headers["x-ratelimit-remaining"] == "14"
    assert responses[-1].headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(responses[-1].headers["x-ratelimit-reset"]) <= 60
    limited = post(client, body)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["error"]["type"] == "rate_limited"

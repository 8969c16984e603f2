"""Pronto: POST /v2/contacts/single_enrich (and the older sync_single_enrich alias)."""

from __future__ import annotations

import asyncio
import time

import httpx

from enrichment_assets.sandbox import SandboxServer, World

from .helpers import configure, find, stats

PATH = "/v2/contacts/single_enrich"
CONSENT = "You can't use the personal email enrichment feature without consenting with our terms of use"


def body_for(person, types=("phone",), **extra) -> dict:
    return {"firstname": person.first_name, "lastname": person.last_name, "company_name": person.company,
            "domain": person.domain, "linkedin_url": person.linkedin_url, "enrichment_type": list(types),
            "custom": {"crm_id": "42"}} | extra


def post(client: httpx.Client, body: object, key: str | None = "k", path: str = PATH) -> httpx.Response:
    return client.post(path, json=body, headers={"X-API-KEY": key} if key else {})


def test_found_phones_in_both_shapes(client: httpx.Client, world: World) -> None:
    as_strings = find(world, "pronto", lambda p, k: k.mobile and not k.phone_objects and len(k.phones) == 1)
    as_objects = find(world, "pronto", lambda p, k: k.mobile and k.phone_objects and len(k.phones) == 2)
    data = post(client, body_for(as_strings)).json()
    assert data["status"] == "success" and data["phone_status"] == "valid"
    assert data["phones"] == [as_strings.mobile]
    assert data["custom"] == {"crm_id": "42"}
    assert data["linkedin_profile_url"] == as_strings.linkedin_url
    assert (data["first_name"], data["last_name"]) == (as_strings.first_name, as_strings.last_name)
    assert data["enrichment_id"] and data["email"] is None and data["email_status"] == "N/A"
    data = post(client, body_for(as_objects), path="/v2/contacts/sync_single_enrich").json()
    assert data["phones"] == [{"number": as_objects.mobile, "type": "mobile"},
                              {"number": as_objects.office, "type": "landline"}]
    assert stats(client, "pronto")["credits_charged"] == 20


def test_email_price_not_found_and_country_filter(client: httpx.Client, world: World) -> None:
    person = find(world, "pronto", lambda p, k: k.mobile and k.work_email)
    data = post(client, body_for(person, ("phone", "email"))).json()
    assert data["email"] == person.work_email and data["email_status"] in ("deliverable", "catch-all")
    assert stats(client, "pronto")["credits_charged"] == 11
    other = "FR" if person.country != "FR" else "DE"
    data = post(client, body_for(person, ("phone",), phone_country_codes=[other])).json()
    assert data["phones"] == [] and data["phone_status"] == "not_found" and data["status"] == "error"
    nobody = find(world, "pronto", lambda p, k: not k.phones and not k.work_email)
    data = post(client, body_for(nobody, ("phone", "email"))).json()
    assert data["status"] == "error" and data["phones"] == [] and data["message"]
    assert stats(client, "pronto")["credits_charged"] == 11
    # Email-only requests need no linkedin_url: found by name and domain.
    data = post(client, {"firstname": person.first_name, "lastname": person.last_name, "domain": person.domain,
                         "enrichment_type": ["email"]}).json()
    assert data["email"] == person.work_email
    assert stats(client, "pronto")["credits_charged"] == 12


def test_validation_422_and_consent(client: httpx.Client, world: World) -> None:
    person = world.people[3]
    cases = [
        {k: v for k, v in body_for(person).items() if k != "firstname"},
        body_for(person, ()),
        body_for(person, ("phone", "fax")),
        body_for(person, ("phone", "email", "personal_email", "phone")),
        {k: v for k, v in body_for(person).items() if k != "linkedin_url"},
        body_for(person, phone_country_codes=["USA"]),
    ]
    for case in cases:
        response = post(client, case)
        assert response.status_code == 422, case
        assert response.json()["message"]
    response = post(client, body_for(person, ("email", "personal_email")))
    assert response.status_code == 422 and response.json() == {"message": CONSENT}
    configure(client, {"vendors": {"pronto": {"personal_email_consent": True}}})
    data = post(client, body_for(person, ("email", "personal_email"))).json()
    assert "personal_email" in data and "personal_email_status" in data


def test_auth_out_of_credits_and_429(client: httpx.Client, world: World) -> None:
    person = find(world, "pronto", lambda p, k: k.mobile)
    assert post(client, body_for(person), key=None).status_code == 401
    configure(client, {"vendors": {"pronto": {"api_key": "pronto-secret", "balance": 15}}})
    assert post(client, body_for(person), key="wrong").status_code == 401
    assert post(client, body_for(person), key="pronto-secret").status_code == 200
    response = post(client, body_for(person), key="pronto-secret")
    assert response.status_code == 402 and response.json()["credits_remaining"] == 5
    configure(client, {"vendors": {"pronto": {"out_of_credits_status": 422}}})
    assert post(client, body_for(person), key="pronto-secret").status_code == 422
    counters = stats(client, "pronto")
    assert counters["credits_charged"] == 10 and counters["balance"] == 5
    configure(client, {"vendors": {"pronto": {"rate_limit": {"requests_per_second": 1, "burst": 1}}}})
    post(client, body_for(person), key="pronto-secret")
    response = post(client, body_for(person), key="pronto-secret")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_at_most_5_processed_in_parallel(sandbox: SandboxServer, client: httpx.Client, world: World) -> None:
    configure(client, {"vendors": {"pronto": {"latency": {"p50": 0.2}}}})
    person = world.people[0]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10,
                                     limits=httpx.Limits(max_connections=20)) as aclient:
            responses = await asyncio.gather(*(aclient.post(PATH, json=body_for(person), headers={"X-API-KEY": "k"})
                                               for _ in range(12)))
        return [r.status_code for r in responses]

    start = time.perf_counter()
    statuses = asyncio.run(burst())
    elapsed = time.perf_counter() - start
    assert statuses == [200] * 12
    counters = stats(client, "pronto")
    assert counters["max_processing"] == 5
    assert counters["max_in_flight"] > 5
    assert elapsed >= 0.55   # three waves of 0.2 s

"""The balance endpoints: documented paths and shapes, the vendor's own auth, free, and they follow the charges."""

from __future__ import annotations

import httpx
import pytest

from enrichment_assets.sandbox import World

from .helpers import KEY, bearer, configure, find, stats

BALANCES = {
    "enrichlayer": ("/api/v2/credit-balance", "credit_balance"),
    "crustdata": ("/user/credits", "credits"),
    "leadmagic": ("/v1/credits", "credits"),
}


def _headers(vendor: str, key: str = KEY) -> dict[str, str]:
    return {"X-API-Key": key} if vendor == "leadmagic" else bearer(key)


@pytest.mark.parametrize("vendor", sorted(BALANCES))
def test_balance_follows_what_the_vendor_charged(client: httpx.Client, world: World, vendor: str) -> None:
    configure(client, {"vendors": {vendor: {"balance": 100}}})
    path, field = BALANCES[vendor]
    assert client.get(path, headers=_headers(vendor)).json()[field] == 100
    if vendor == "enrichlayer":
        person = find(world, "enrichlayer", lambda p, k: len(k.phones) == 3)
        client.get("/api/v2/contact-api/personal-contact", params={"profile_url": person.linkedin_url},
                   headers=bearer())
    elif vendor == "leadmagic":
        person = find(world, "leadmagic", lambda p, k: k.mobile is not None)
        client.post("/v1/people/mobile-finder", json={"profile_url": person.linkedin_url},
                    headers=_headers(vendor))
    else:
        person = find(world, "crustdata", lambda p, k: k.profile and bool(k.phones))
        client.post("/person/contact/enrich", headers={**bearer(), "x-api-version": "2025-11-01"},
                    json={"professional_network_profile_urls": [person.linkedin_url],
                          "fields": ["contact.phone_numbers"]})
    charged = stats(client, vendor)["credits_charged"]
    assert charged > 0
    response = client.get(path, headers=_headers(vendor))
    assert response.status_code == 200 and response.json()[field] == 100 - charged
    if vendor == "leadmagic":
        assert response.headers["X-Credits-Remaining"] == str(100 - charged)
    counters = stats(client, vendor)
    assert counters["balance_reads"] == 2 and counters["requests"] == 1  # the reads are free and not requests


def test_an_unlimited_balance_counts_down_from_a_large_one(client: httpx.Client) -> None:
    first = client.get("/user/credits", headers=bearer()).json()["credits"]
    assert first > 0 and client.get("/user/credits", headers=bearer()).json()["credits"] == first


def test_balance_reads_need_the_vendors_key(client: httpx.Client) -> None:
    configure(client, {"vendors": {v: {"api_key": "right-key"} for v in BALANCES}})
    for vendor, (path, _) in BALANCES.items():
        assert client.get(path, headers=_headers(vendor, "wrong")).status_code == 401, vendor
        assert client.get(path, headers=_headers(vendor, "right-key")).status_code == 200, vendor
    assert client.get("/user/credits").json() == {"message": "Missing API key in request"}
    # Pronto documents no balance endpoint: none is served.
    assert client.get("/v1/account/credits", headers=bearer()).status_code == 404


def test_lanterns_stand_in_balance_is_not_in_its_documents_and_says_credits_remaining(
        client: httpx.Client, world: World) -> None:
    configure(client, {"vendors": {"lantern": {"balance": 50}}})
    assert client.get("/v1/enrich/credits", headers=bearer()).json() == {"success": True, "credits_remaining": 50}
    person = find(world, "lantern", lambda p, k: bool(k.phones))
    client.post("/v1/enrich/phone", headers=bearer(), json={"record_id": "r", "first_name": person.first_name,
                                                            "last_name": person.last_name, "company": person.company})
    assert client.get("/v1/enrich/credits", headers=bearer()).json()["credits_remaining"] == 49

"""Lantern: POST /v1/enrich/phone."""

from __future__ import annotations

import httpx

from enrichment_assets.sandbox import World

from .helpers import bearer, configure, find, stats

PATH = "/v1/enrich/phone"


def post(client: httpx.Client, body: object, key: str | None = "k") -> httpx.Response:
    return client.post(PATH, json=body, headers=bearer(key) if key else {})


def test_found_by_name_and_company_echoes_and_charges(client: httpx.Client, world: World) -> None:
    person = find(world, "lantern", lambda p, k: k.mobile is not None)
    body = {"record_id": "r1", "first_name": person.first_name, "last_name": person.last_name,
            "company": person.company}
    response = post(client, body)
    assert response.status_code == 200
    data = response.json()
    known = world.knowledge("lantern", person)
    assert data["success"] is True and data["record_id"] == "r1"
    assert data["phone"] == person.mobile
    assert (data["first_name"], data["last_name"], data["company"]) == (person.first_name, person.last_name,
                                                                         person.company)
    assert data["email"] == known.work_email and data["linkedin_id"] == known.linkedin_slug
    assert isinstance(data["processing_time_ms"], int)
    assert set(data) == {"success", "record_id", "first_name", "last_name", "company", "email", "linkedin_id",
                         "phone", "processing_time_ms"}
    assert stats(client, "lantern")["credits_charged"] == 1


def test_cascade_linkedin_id_then_email_and_not_found_is_free(client: httpx.Client, world: World) -> None:
    person = find(world, "lantern", lambda p, k: k.phones and k.phones[0].kind == "office" and k.linkedin_slug)
    # Wrong company: the name method fails, the linkedin_id method finds the person.
    response = post(client, {"record_id": "r2", "first_name": person.first_name, "last_name": person.last_name,
                             "company": "Nobody Ltd", "linkedin_id": person.linkedin_slug})
    assert response.json()["phone"] == person.office
    # Email only.
    assert post(client, {"record_id": "r3", "email": person.personal_email}).json()["phone"] == person.office
    # Domain instead of company.
    assert post(client, {"record_id": "r4", "first_name": person.first_name, "last_name": person.last_name,
                         "domain": person.domain}).json()["phone"] == person.office
    # A full URL is not a slug: nothing found, nothing charged.
    missing = post(client, {"record_id": "r5", "linkedin_id": person.linkedin_url}).json()
    assert missing["phone"] is None and missing["success"] is True
    nobody = find(world, "lantern", lambda p, k: not k.phones)
    assert post(client, {"record_id": "r6", "email": nobody.work_email}).json()["phone"] is None
    assert stats(client, "lantern")["credits_charged"] == 3


def test_validation_is_fastapi_style_422(client: httpx.Client) -> None:
    response = post(client, {"first_name": "A", "last_name": "B", "company": "C"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "missing", "loc": ["body", "record_id"], "msg": "Field required"}]}
    response = post(client, {"record_id": 12, "email": "a@b.co"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "record_id"]
    response = post(client, {"record_id": "r", "first_name": "A", "last_name": "B"})  # no company/domain
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body"] and detail["type"] == "value_error" and "msg" in detail
    bad_json = client.post(PATH, content=b"{nope", headers=bearer() | {"content-type": "application/json"})
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["type"] == "json_invalid"
    assert stats(client, "lantern")["by_status"] == {"422": 4}


def test_auth(client: httpx.Client) -> None:
    configure(client, {"vendors": {"lantern": {"api_key": "lantern-secret"}}})
    for key in (None, "nope"):
        response = post(client, {"record_id": "r", "email": "a@b.co"}, key=key)
        assert response.status_code == 401
        data = response.json()
        assert data["success"] is False and data["error"] and "request_id" in data
        assert {"details", "credits_required", "credits_remaining", "retry_after"} <= set(data)
    assert post(client, {"record_id": "r", "email": "a@b.co"}, key="lantern-secret").status_code == 200


def test_insufficient_credit_is_400_with_credit_fields(client: httpx.Client, world: World) -> None:
    person = find(world, "lantern", lambda p, k: k.phones and k.linkedin_slug)
    configure(client, {"vendors": {"lantern": {"balance": 1}}})
    body = {"record_id": "r", "linkedin_id": person.linkedin_slug}
    assert post(client, body).json()["phone"] is not None
    response = post(client, {**body, "record_id": "r-again"})
    assert response.status_code == 400
    data = response.json()
    assert data["success"] is False
    assert data["credits_required"] == 1 and data["credits_remaining"] == 0
    counters = stats(client, "lantern")
    assert counters["credits_charged"] == 1 and counters["balance"] == 0


def test_price_is_configurable(client: httpx.Client, world: World) -> None:
    configure(client, {"vendors": {"lantern": {"price_per_found": 3, "price_per_call": 1}}})
    hit = find(world, "lantern", lambda p, k: k.phones)
    miss = find(world, "lantern", lambda p, k: not k.phones)
    post(client, {"record_id": "a", "email": hit.work_email})
    post(client, {"record_id": "b", "email": miss.work_email})
    assert stats(client, "lantern")["credits_charged"] == 4 + 1


def test_429_retry_after_in_body_and_switchable_header(client: httpx.Client) -> None:
    configure(client, {"vendors": {"lantern": {"rate_limit": {"requests_per_second": 0.5, "burst": 2},
                                               "retry_after_header": False}}})
    body = {"record_id": "r", "email": "nobody@example.com"}
    assert [post(client, body).status_code for _ in range(2)] == [200, 200]
    response = post(client, body)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    data = response.json()
    assert data["success"] is False and data["retry_after"] == 2
    configure(client, {"vendors": {"lantern": {"retry_after_header": True}}})
    response = post(client, body)
    assert response.status_code == 429 and response.headers["Retry-After"] == str(response.json()["retry_after"])


def test_a_repeated_record_id_is_answered_again_and_not_charged(client: httpx.Client, world: World) -> None:
    """The vendor caches and de-duplicates by record_id: asking the same record again costs nothing."""
    person = find(world, "lantern", lambda p, k: k.phones and k.linkedin_slug)  # on file: its LinkedIn id matches
    body = {"record_id": "lr_same", "linkedin_id": person.linkedin_slug}
    first, again = post(client, body).json(), post(client, body).json()
    assert first["phone"] == again["phone"] is not None
    counters = stats(client, "lantern")
    assert (counters["requests"], counters["credits_charged"], counters["repeats_not_charged"]) == (2, 1, 1)


def test_namesakes_at_one_company_get_the_first_ones_answer_by_name_and_their_own_by_linkedin(
        client: httpx.Client, world: World) -> None:
    # The document's order: name + company first. Two people of one name at one company are one to the name method.
    pairs = [(p, world.namesakes(p)[0]) for p in world.people if world.namesakes(p)
             and p.person_id > world.namesakes(p)[0].person_id]
    second, first = next((s, f) for s, f in pairs
                         if world.knowledge("lantern", f).phones and world.knowledge("lantern", s).linkedin_slug
                         and world.knowledge("lantern", s).phones != world.knowledge("lantern", f).phones)
    by_name = post(client, {"record_id": "n1", "first_name": second.first_name, "last_name": second.last_name,
                            "company": second.company, "linkedin_id": second.linkedin_slug}).json()
    assert by_name["phone"] == world.knowledge("lantern", first).phones[0].e164  # the namesake's number
    by_linkedin = post(client, {"record_id": "n2", "linkedin_id": second.linkedin_slug}).json()
    own = world.knowledge("lantern", second).phones
    assert by_linkedin["phone"] == (own[0].e164 if own else None)

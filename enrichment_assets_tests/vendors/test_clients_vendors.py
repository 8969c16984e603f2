"""Each vendor's own wire format: request shape, auth, parsing and its own error bodies (httpx.MockTransport)."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs

import httpx
import pytest

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import CallStatus, PhoneClaim
from enrichment_assets.vendors.crustdata import API_VERSION

from .helpers import FOUND_BODY, KEY, LEAD, MockVendor, SleepRecorder, config, make_client

pytestmark = pytest.mark.anyio


def lead(**changes: object) -> Lead:
    return dataclasses.replace(LEAD, **changes)


# ----------------------------------------------------------------------------- LeadMagic


async def test_leadmagic_request_shape() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["leadmagic"]))
    async with make_client("leadmagic", vendor) as client:
        result = await client.lookup(LEAD)
    request = vendor.requests[0]
    assert request.method == "POST" and request.url.path == "/v1/people/mobile-finder"
    assert request.headers["X-API-Key"] == KEY and "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert vendor.json() == {"profile_url": LEAD.linkedin_url, "work_email": LEAD.email}
    assert result.phones == [PhoneClaim("+1-555-123-4567", "mobile")]
    assert result.vendor_credits == 5.0 and result.attempts[0].vendor_credits == 5.0
    assert result.raw == FOUND_BODY["leadmagic"]


async def test_leadmagic_personal_email_and_identity() -> None:
    vendor = MockVendor(httpx.Response(200, json={"mobile_number": None, "credits_consumed": 0, "message": "No"}))
    async with make_client("leadmagic", vendor) as client:
        gmail = lead(email="jane.doe@gmail.com")
        result = await client.lookup(gmail)
        assert client.request_identity(gmail) == {
            "profile_url": LEAD.linkedin_url,
            "personal_email": "jane.doe@gmail.com",
        }
        only_email = lead(linkedin_url=None)
        assert client.ineligible_reason(only_email) is None
        assert client.request_identity(only_email) == {"work_email": LEAD.email}
        assert client.ineligible_reason(lead(linkedin_url=None, email=None))
        # record_id and list are not part of the question
        assert client.fingerprint(LEAD) == client.fingerprint(lead(record_id="other", list_id="l2"))
    assert vendor.json() == {"profile_url": LEAD.linkedin_url, "personal_email": "jane.doe@gmail.com"}
    assert result.status is CallStatus.NOT_FOUND and result.vendor_credits == 0.0


async def test_leadmagic_error_bodies() -> None:
    rfc = {
        "success": False,
        "errors": [
            {
                "type": "about:blank",
                "title": "Invalid profile URL",
                "status": 400,
                "code": "INVALID_PROFILE_URL",
                "docs": "https://x",
            }
        ],
        "meta": {"request_id": "q"},
    }
    vendor = MockVendor(httpx.Response(400, json=rfc), httpx.Response(400, json={"message": "Missing identifier"}),
                        httpx.Response(402, json={"message": "Insufficient credits"}))
    async with make_client("leadmagic", vendor) as client:
        first, second, third = [await client.lookup(LEAD) for _ in range(3)]
    assert (
        first.status is CallStatus.ERROR
        and "Invalid profile URL" in first.error
        and "INVALID_PROFILE_URL" in first.error
    )
    assert second.status is CallStatus.ERROR and "Missing identifier" in second.error
    assert third.status is CallStatus.OUT_OF_CREDITS and "Insufficient credits" in third.error


async def test_leadmagic_credits_from_header_when_body_is_silent() -> None:
    vendor = MockVendor(httpx.Response(200, json={"mobile_number": "+15551234567"}, headers={"X-Credits-Cost": "5"}))
    async with make_client("leadmagic", vendor) as client:
        result = await client.lookup(LEAD)
    assert result.status is CallStatus.FOUND and result.vendor_credits == 5.0


# ----------------------------------------------------------------------------- Pronto


async def test_pronto_request_shape() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["pronto"]))
    async with make_client("pronto", vendor, cfg=config(enrichment_type=["phone"])) as client:
        result = await client.lookup(LEAD)
    request = vendor.requests[0]
    assert request.method == "POST" and request.url.path == "/v2/contacts/single_enrich"
    assert request.headers["X-API-KEY"] == KEY and "authorization" not in request.headers
    assert vendor.json() == {
        "firstname": "Jane", "lastname": "Doe", "company_name": "Acme", "domain": "acme.io",
        "linkedin_url": LEAD.linkedin_url, "enrichment_type": ["phone"], "custom": {"record_id": "r1"},
    }
    assert result.phones == [PhoneClaim("+33612345678", None)] and result.vendor_credits is None


async def test_pronto_path_from_config() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["pronto"]))
    async with make_client("pronto", vendor, cfg=config(path="/v2/contacts/sync_single_enrich")) as client:
        await client.lookup(LEAD)
        assert client.endpoint == "/v2/contacts/sync_single_enrich"
    assert vendor.requests[0].url.path == "/v2/contacts/sync_single_enrich"


async def test_pronto_personal_email_needs_consent() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["pronto"]))
    types = ["email", "phone", "personal_email"]
    async with make_client("pronto", vendor, cfg=config(enrichment_type=types, personal_email_consent=False)) as c1:
        await c1.lookup(LEAD)
        without = c1.fingerprint(LEAD)
    async with make_client("pronto", vendor, cfg=config(enrichment_type=types, personal_email_consent=True)) as c2:
        await c2.lookup(LEAD)
        with_consent = c2.fingerprint(LEAD)
    assert vendor.json(0)["enrichment_type"] == ["email", "phone"]
    assert vendor.json(1)["enrichment_type"] == ["email", "phone", "personal_email"]
    assert without != with_consent  # enrichment_type changes the answer and its cost


async def test_pronto_identity_excludes_custom_and_eligibility() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["pronto"]))
    async with make_client("pronto", vendor) as client:
        identity = client.request_identity(LEAD)
        assert "custom" not in identity and identity["enrichment_type"] == ["phone"]
        assert client.fingerprint(LEAD) == client.fingerprint(lead(record_id="r999"))
        assert "linkedin_url" in client.ineligible_reason(lead(linkedin_url=None))
        assert "last_name" in client.ineligible_reason(lead(last_name=None))
        assert client.ineligible_reason(lead(company=None, domain=None)) is None
    async with make_client("pronto", vendor, cfg=config(enrichment_type=["personal_email"])) as client:
        assert "consent" in client.ineligible_reason(LEAD)


async def test_pronto_accepts_both_phone_shapes() -> None:
    objects = {"status": "success", "phones": [{"number": "+33612345678", "type": "mobile"},
                                               {"number": "+33140000000", "type": "landline"},
                                               {"number": "+33612345678", "type": "mobile"}], "phone_status": "valid"}
    mixed = {"status": "success", "phones": ["+14155550123", {"number": "+14155550100"}], "phone_status": "valid"}
    vendor = MockVendor(httpx.Response(200, json=objects), httpx.Response(200, json=mixed))
    async with make_client("pronto", vendor) as client:
        first = await client.lookup(LEAD)
        second = await client.lookup(LEAD)
    assert first.phones == [PhoneClaim("+33612345678", "mobile"), PhoneClaim("+33140000000", "landline")]
    assert second.phones == [PhoneClaim("+14155550123", None), PhoneClaim("+14155550100", None)]


async def test_pronto_422_consent_is_an_error_credit_shortage_stops() -> None:
    consent = {
        "message": "You can't use the personal email enrichment feature without consenting with our terms of use"
    }
    vendor = MockVendor(
        httpx.Response(422, json=consent), httpx.Response(422, json={"message": "Insufficient credits"})
    )
    async with make_client("pronto", vendor) as client:
        first = await client.lookup(LEAD)
        second = await client.lookup(LEAD)
        third = await client.lookup(LEAD)
    assert first.status is CallStatus.ERROR and "consenting" in first.error
    assert second.status is CallStatus.OUT_OF_CREDITS and third.status is CallStatus.OUT_OF_CREDITS
    assert vendor.count == 2


# ----------------------------------------------------------------------------- Enrich Layer


@pytest.mark.parametrize(("page_size", "sent"), [(None, "3"), (1, "1"), (3, "3"), (10, "10"), (0, "0")])
async def test_enrichlayer_request_shape_and_page_size(page_size: int | None, sent: str) -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["enrichlayer"]))
    async with make_client("enrichlayer", vendor, cfg=config(page_size=page_size)) as client:
        result = await client.lookup(LEAD)
        assert client.request_identity(LEAD) == {"profile_url": LEAD.linkedin_url, "page_size": int(sent)}
    request = vendor.requests[0]
    assert request.method == "GET" and request.url.path == "/api/v2/contact-api/personal-contact"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert parse_qs(request.url.query.decode()) == {"profile_url": [LEAD.linkedin_url], "page_size": [sent]}
    assert request.content == b""
    assert [p.number for p in result.phones] == ["+14155550123", "+14155550100"]
    assert all(p.claimed_type is None for p in result.phones)


async def test_enrichlayer_page_size_is_part_of_the_fingerprint() -> None:
    vendor = MockVendor()
    async with make_client("enrichlayer", vendor, cfg=config(page_size=1)) as one, \
            make_client("enrichlayer", vendor, cfg=config(page_size=3)) as three:
        assert one.fingerprint(LEAD) != three.fingerprint(LEAD)


async def test_enrichlayer_404_is_not_found_and_403_out_of_credits() -> None:
    vendor = MockVendor(httpx.Response(404, json={"description": "Profile not found", "code": 404}),
                        httpx.Response(403, json={"description": "You have run out of credits", "code": 403}))
    async with make_client("enrichlayer", vendor) as client:
        missing = await client.lookup(LEAD)
        assert client.stopped is None
        broke = await client.lookup(LEAD)
        later = await client.lookup(LEAD)
    assert missing.status is CallStatus.NOT_FOUND and missing.error is None and missing.http_status == 404
    assert broke.status is CallStatus.OUT_OF_CREDITS and later.status is CallStatus.OUT_OF_CREDITS
    assert vendor.count == 2


async def test_enrichlayer_410_is_unavailable_and_repeats_kept_once() -> None:
    vendor = MockVendor(httpx.Response(200, json={"numbers": ["+1415", "+1415", "+1416"]}), httpx.Response(410))
    async with make_client("enrichlayer", vendor) as client:
        found = await client.lookup(LEAD)
        gone = await client.lookup(LEAD)
    assert [p.number for p in found.phones] == ["+1415", "+1416"]
    assert gone.status is CallStatus.UNAVAILABLE


# ----------------------------------------------------------------------------- Lantern


async def test_lantern_request_shape_and_identity() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["lantern"]))
    async with make_client("lantern", vendor) as client:
        result = await client.lookup(LEAD)
        identity = client.request_identity(LEAD)
        fingerprint = client.fingerprint(LEAD)
        assert fingerprint == client.fingerprint(lead(record_id="other"))
    request = vendor.requests[0]
    assert request.method == "POST" and request.url.path == "/v1/enrich/phone"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = vendor.json()
    assert body.pop("record_id") == f"lr_{fingerprint[:32]}"
    assert body == {"first_name": "Jane", "last_name": "Doe", "company": "Acme", "domain": "acme.io",
                    "email": LEAD.email, "linkedin_id": "jane-doe-4711"}
    # The question, as the vendor's matching reads it: names and company without case or punctuation.
    assert identity == {"first_name": "jane", "last_name": "doe", "company": "acme", "domain": "acme.io",
                        "email": LEAD.email, "linkedin_id": "jane-doe-4711"}
    assert result.phones == [PhoneClaim("+14155550123", None)]


async def test_lantern_can_send_the_leads_record_id() -> None:
    vendor = MockVendor(httpx.Response(200, json=FOUND_BODY["lantern"]))
    async with make_client("lantern", vendor, record_id_source="lead") as client:
        await client.lookup(LEAD)
    assert vendor.json()["record_id"] == "r1"


def test_lantern_eligibility() -> None:
    client = make_client("lantern", MockVendor())
    assert client.ineligible_reason(Lead("l", "1", email="a@b.io")) is None
    assert client.ineligible_reason(Lead("l", "1", linkedin_url="https://www.linkedin.com/in/x")) is None
    assert client.ineligible_reason(Lead("l", "1", first_name="A", last_name="B", domain="b.io")) is None
    assert client.ineligible_reason(Lead("l", "1", first_name="A", last_name="B"))


async def test_lantern_429_body_retry_after() -> None:
    sleep = SleepRecorder()
    limited = {"success": False, "error": "Rate limit exceeded", "details": None, "request_id": "q",
               "credits_required": None, "credits_remaining": None, "retry_after": 4}
    vendor = MockVendor(httpx.Response(429, json=limited), httpx.Response(200, json=FOUND_BODY["lantern"]))
    async with make_client("lantern", vendor, sleep=sleep) as client:
        result = await client.lookup(LEAD)
    assert result.status is CallStatus.FOUND and vendor.count == 2
    assert any(3.9 <= w <= 4.0 for w in sleep.waits), sleep.waits


async def test_lantern_insufficient_credit_400_stops() -> None:
    short = {"success": False, "error": "Insufficient credits", "details": "This request needs 1 credit",
             "request_id": "q", "credits_required": 1, "credits_remaining": 0, "retry_after": None}
    vendor = MockVendor(httpx.Response(400, json=short))
    async with make_client("lantern", vendor) as client:
        first = await client.lookup(LEAD)
        second = await client.lookup(LEAD)
    assert first.status is CallStatus.OUT_OF_CREDITS and second.status is CallStatus.OUT_OF_CREDITS
    assert vendor.count == 1 and first.raw["credits_remaining"] == 0


async def test_lantern_422_fastapi_detail_and_plain_400() -> None:
    detail = {"detail": [{"loc": ["body", "record_id"], "msg": "field required", "type": "value_error.missing"}]}
    plain = {"success": False, "error": "Invalid email", "details": None, "request_id": "q",
             "credits_required": None, "credits_remaining": None, "retry_after": None}
    vendor = MockVendor(httpx.Response(422, json=detail), httpx.Response(400, json=plain))
    async with make_client("lantern", vendor) as client:
        first = await client.lookup(LEAD)
        second = await client.lookup(LEAD)
    assert first.status is CallStatus.ERROR and "record_id: field required" in first.error
    assert second.status is CallStatus.ERROR and "Invalid email" in second.error and client.stopped is None


async def test_lantern_success_false_in_200_is_an_error() -> None:
    vendor = MockVendor(httpx.Response(200, json={"success": False, "error": "enrichment failed"}))
    async with make_client("lantern", vendor) as client:
        result = await client.lookup(LEAD)
    assert result.status is CallStatus.ERROR and "enrichment failed" in result.error


# ----------------------------------------------------------------------------- Crustdata


def crustdata_answer(request: httpx.Request) -> httpx.Response:
    """Echo a Crustdata answer: identifiers containing 'found' match with a phone, 'nophone' match without."""
    body = json.loads(request.content)
    kind = "professional_network_profile_urls" if "professional_network_profile_urls" in body else "business_emails"
    out = []
    for value in body[kind]:
        if "found" in value:
            matches = [{"confidence_score": 0.4, "person_data": {"contact": {"phone_numbers": ["+1-555-0199"]}}},
                       {"confidence_score": 0.9, "person_data": {"contact": {"phone_numbers": ["+1-555-0100",
                                                                                              "+1-555-0101"]}}}]
        elif "nophone" in value:
            matches = [{"confidence_score": 1.0, "person_data": {"contact": {"phone_numbers": []}}}]
        else:
            matches = []
        out.append({"matched_on": value, "match_type": kind[:-1], "matches": matches})
    return httpx.Response(200, json=list(reversed(out)))  # order must not matter


def url_lead(i: int, tag: str = "found") -> Lead:
    return Lead(list_id="l", record_id=f"r{i}", linkedin_url=f"https://www.linkedin.com/in/{tag}-{i}")


async def test_crustdata_request_shape_and_split() -> None:
    vendor = MockVendor(crustdata_answer)
    leads = [url_lead(1), url_lead(2, "missing"), url_lead(3, "nophone")]
    async with make_client("crustdata", vendor) as client:
        results = await client.lookup_batch(leads)
        fingerprints = [client.fingerprint(x) for x in leads]
    request = vendor.requests[0]
    assert request.method == "POST" and request.url.path == "/person/contact/enrich"
    assert request.headers["Authorization"] == f"Bearer {KEY}" and request.headers["x-api-version"] == API_VERSION
    assert vendor.json() == {"professional_network_profile_urls": [x.linkedin_url for x in leads],
                             "fields": ["contact.phone_numbers"]}
    found, missing, nophone = results
    assert found.status is CallStatus.FOUND and found.matched is True
    assert found.phones == [PhoneClaim("+1-555-0100"), PhoneClaim("+1-555-0101")]  # the best match, as written
    assert found.raw["matched_on"] == leads[0].linkedin_url
    assert missing.status is CallStatus.NOT_FOUND and missing.matched is False
    assert nophone.status is CallStatus.NOT_FOUND and nophone.matched is True
    assert found.vendor_credits is None
    assert all(r.attempts[0].request_fingerprints == fingerprints for r in results)
    assert len({r.attempts[0].attempt_id for r in results}) == 1


@pytest.mark.parametrize(
    ("count", "batch_size", "expected_sizes"), [(25, 25, [25]), (30, 25, [25, 5]), (7, 3, [3, 3, 1])]
)
async def test_crustdata_batches(count: int, batch_size: int, expected_sizes: list[int]) -> None:
    vendor = MockVendor(crustdata_answer)
    leads = [url_lead(i, "found" if i % 2 else "missing") for i in range(count)]
    async with make_client("crustdata", vendor, cfg=config(batch_size=batch_size)) as client:
        results = await client.lookup_batch(leads)
    assert sorted(len(json.loads(r.content)["professional_network_profile_urls"]) for r in vendor.requests) == \
        sorted(expected_sizes)
    assert [r.status for r in results] == [CallStatus.FOUND if i % 2 else CallStatus.NOT_FOUND for i in range(count)]


async def test_crustdata_repeated_identifier_sent_once() -> None:
    vendor = MockVendor(crustdata_answer)
    leads = [url_lead(1), url_lead(2, "missing"), dataclasses.replace(url_lead(1), record_id="dup")]
    async with make_client("crustdata", vendor) as client:
        results = await client.lookup_batch(leads)
    assert vendor.count == 1
    assert vendor.json()["professional_network_profile_urls"] == [leads[0].linkedin_url, leads[1].linkedin_url]
    assert results[0].status is CallStatus.FOUND and results[2].status is CallStatus.FOUND
    assert results[0].phones == results[2].phones and results[0] is not results[2]


async def test_crustdata_never_mixes_identifier_kinds() -> None:
    vendor = MockVendor(crustdata_answer)
    by_email = Lead(list_id="l", record_id="e1", email="found.person@acme.io", domain="acme.io")
    free_mail = Lead(list_id="l", record_id="e2", email="someone@gmail.com")
    leads = [url_lead(1), by_email, url_lead(2, "missing"), free_mail]
    async with make_client("crustdata", vendor) as client:
        assert client.request_identity(by_email)["identifier_type"] == "business_emails"
        results = await client.lookup_batch(leads)
    bodies = [json.loads(r.content) for r in vendor.requests]
    assert len(bodies) == 2
    assert {tuple(sorted(k for k in b if k != "fields")) for b in bodies} == {
        ("professional_network_profile_urls",), ("business_emails",)}
    email_body = next(b for b in bodies if "business_emails" in b)
    assert email_body["business_emails"] == ["found.person@acme.io"]
    assert [r.status for r in results] == [CallStatus.FOUND, CallStatus.FOUND, CallStatus.NOT_FOUND, CallStatus.ERROR]
    assert results[3].error.startswith("ineligible") and results[3].attempts == []


async def test_crustdata_identity_includes_fields() -> None:
    vendor = MockVendor(crustdata_answer)
    a = make_client("crustdata", vendor, cfg=config(fields=["contact.phone_numbers"]))
    b = make_client("crustdata", vendor, cfg=config(fields=["contact"]))
    assert a.fingerprint(LEAD) != b.fingerprint(LEAD)
    assert a.request_identity(LEAD) == {"identifier_type": "professional_network_profile_urls",
                                        "identifier": LEAD.linkedin_url, "fields": ["contact.phone_numbers"]}


#: Each vendor's request fingerprint for LEAD with the default config, as earlier versions stored it. The
#: fingerprint is the response store's key: if it changes, every stored answer of that vendor misses and is
#: asked (and paid for) again. Update a value here only when that is the intent, and say so in the changelog.
STORED_FINGERPRINTS = {
    "leadmagic": "a4814491a42c0ac82e2e0acd9c76d1f3a1ac394f2f9c1a174314357bc07290a6",
    "pronto": "566e718bde84bad398939f178e43d2e38515546e4cc7a33e5172dd5f987c0497",
    "enrichlayer": "fefefb14aea116bca71ec3473f18a5855e26e314b88363fed75b6be34616d963",
    "lantern": "d93632d3a6eaf85e98c9d7f9a82698b6207416239550ce122b20dc680f554abc",
    "crustdata": "c84513dd5ba22d6d1f9f2c17888b77a8ea9156479b2e34e49a72c577ad99a9bd",
}

#: Fingerprints changed on purpose since: Pronto and Lantern read names, company and domain as their matching does
#: (without case, punctuation or legal form: vendors/identity.py). Their earlier fingerprint is still looked up
#: (``legacy_fingerprints``), so a store from before answers without a request.
CURRENT_FINGERPRINTS = {
    **STORED_FINGERPRINTS,
    "pronto": "8076c27e8d312fa36f5182a4884e489976cc823ad8b318c3ef29fa89ec713301",
    "lantern": "6f2192e2d116ca6ce5b712d98d0deeb5b83488269f8a9c6de13d71abffe1b878",
}


@pytest.mark.parametrize("provider", sorted(STORED_FINGERPRINTS))
def test_request_fingerprints_match_what_earlier_versions_stored(provider: str) -> None:
    client = make_client(provider, MockVendor(), cfg=config(page_size=3) if provider == "enrichlayer" else None)
    assert client.fingerprint(LEAD) == CURRENT_FINGERPRINTS[provider]
    # The same question asked for another record of another list is the same stored answer.
    assert client.fingerprint(lead(record_id="r2", list_id="l2")) == CURRENT_FINGERPRINTS[provider]
    # An answer stored under what an earlier version computed still answers the question.
    if CURRENT_FINGERPRINTS[provider] != STORED_FINGERPRINTS[provider]:
        assert STORED_FINGERPRINTS[provider] in client.legacy_fingerprints(LEAD)


async def test_crustdata_matches_a_differently_written_echo() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"matched_on": "http://linkedin.com/in/found-1/", "matches": [
            {"confidence_score": 1, "person_data": {"contact": {"phone_numbers": ["+1-555-0100"]}}}]}])

    vendor = MockVendor(answer)
    async with make_client("crustdata", vendor) as client:
        (result,) = await client.lookup_batch([url_lead(1)])
    assert result.status is CallStatus.FOUND


async def test_crustdata_missing_element_is_an_error_for_that_identifier() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"matched_on": url_lead(1).linkedin_url, "matches": []}])

    vendor = MockVendor(answer)
    async with make_client("crustdata", vendor) as client:
        first, second = await client.lookup_batch([url_lead(1), url_lead(2)])
    assert first.status is CallStatus.NOT_FOUND
    assert second.status is CallStatus.ERROR and "no element" in second.error


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"error": "Insufficient credits. Please top up your account."}, CallStatus.OUT_OF_CREDITS),
        ({"message": "You have insufficient credits to perform this request"}, CallStatus.OUT_OF_CREDITS),
        ({"error": "Permission denied: contact enrich requires an enterprise plan"}, CallStatus.UNAVAILABLE),
    ],
)
async def test_crustdata_403_reads_the_body(body: dict, status: CallStatus) -> None:
    vendor = MockVendor(httpx.Response(403, json=body))
    async with make_client("crustdata", vendor) as client:
        results = await client.lookup_batch([url_lead(1), url_lead(2)])
        later = await client.lookup_batch([url_lead(3)])
    assert [r.status for r in results + later] == [status] * 3
    assert vendor.count == 1 and later[0].attempts == []


async def test_crustdata_batch_error_applies_to_every_identifier() -> None:
    vendor = MockVendor(httpx.Response(500, json={"error": "boom"}))
    async with make_client("crustdata", vendor, cfg=config(max_retries=1)) as client:
        results = await client.lookup_batch([url_lead(1), url_lead(2)])
    # A 500 may have been billed for the whole batch: not asked again in this run, every identifier unknown.
    assert vendor.count == 1
    assert all(r.status is CallStatus.UNKNOWN and len(r.attempts) == 1 for r in results)


async def test_crustdata_lookup_single() -> None:
    vendor = MockVendor(crustdata_answer)
    async with make_client("crustdata", vendor) as client:
        result = await client.lookup(url_lead(5))
    assert result.status is CallStatus.FOUND and vendor.count == 1


def test_a_lantern_namesake_is_asked_and_fingerprinted_by_its_linkedin_id_alone() -> None:
    from enrichment_assets.leads.namesakes import Namesakes

    client = make_client("lantern", MockVendor())
    whole = client.request_identity(LEAD)
    other = dataclasses.replace(LEAD, record_id="r9", linkedin_url="https://www.linkedin.com/in/someone-else")
    client.know_namesakes(Namesakes.from_leads([LEAD, other]))
    assert client.request_identity(LEAD) == {"linkedin_id": LEAD.linkedin_slug} != whole
    fp = client.fingerprint(LEAD)
    request = client.build_request(LEAD, client.request_identity(LEAD), fp)
    assert set(request.json) == {"record_id", "linkedin_id"} and request.json["record_id"] == f"lr_{fp[:32]}"
    # An answer stored for the whole record (name + company) may be the namesake's: it does not answer this one.
    assert client.legacy_fingerprints(LEAD) == []

"""One question, one fingerprint: Pronto and Lantern match on names and company without case, punctuation or
legal form, so "Acme Inc" / "ANN" and "ACME, Inc." / "Ann" are asked (and paid) once. Answers stored under a
question's older fingerprint still answer it after the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import RowOutcome
from enrichment_assets.storage.response_store import ResponseStore, StoredResponse
from enrichment_assets.vendors.base import request_fingerprint
from enrichment_assets.vendors.identity import company_key, domain_key, name_key
from enrichment_assets_tests.vendors.helpers import FOUND_BODY
from enrichment_assets_tests.waterfall.test_lost_answers import config, walk
from enrichment_assets_tests.wire_vendor import Respond, WireVendor

URL = "https://www.linkedin.com/in/ann-lee-42"
LOUD = Lead("l1", "r1", "ANN", "LEE", "Acme Inc", "https://www.Acme.io/", None, URL, "US")
QUIET = Lead("l2", "r9", "Ann", "lee", "ACME, Inc.", "acme.io", None, URL, "US")
PATHS = {"pronto": "/v2/contacts/single_enrich", "lantern": "/v1/enrich/phone"}


@pytest.mark.parametrize("provider", ["pronto", "lantern"])
def test_the_same_person_written_differently_is_asked_once(tmp_path: Path, provider: str) -> None:
    with WireVendor(Respond(200, FOUND_BODY[provider])) as vendor, ResponseStore(tmp_path / "s.sqlite") as store:
        first, _ = walk(store, config(provider), vendor.base_url, [LOUD], run_id="run1")
        second, _ = walk(store, config(provider), vendor.base_url, [QUIET], run_id="run2")
    assert vendor.count == 1
    assert [r.outcome for r in first + second] == [RowOutcome.FOUND] * 2 and second[0].from_cache
    assert first[0].request_fingerprint == second[0].request_fingerprint
    sent = vendor.requests[0].json()  # what is sent is the lead's own text
    assert (sent.get("firstname") or sent.get("first_name")) == "ANN"


#: The request identities the clients fingerprinted before this version (the raw text of the lead).
OLD_IDENTITY = {
    "pronto": {"firstname": "ANN", "lastname": "LEE", "company_name": "Acme Inc", "domain": "https://www.Acme.io/",
               "linkedin_url": URL, "enrichment_type": ["phone"]},
    "lantern": {"first_name": "ANN", "last_name": "LEE", "company": "Acme Inc", "domain": "https://www.Acme.io/",
                "linkedin_id": "ann-lee-42"},
}


@pytest.mark.parametrize("provider", ["pronto", "lantern"])
def test_an_upgraded_store_pays_nothing_for_a_list_it_already_answered(tmp_path: Path, provider: str) -> None:
    old_fp = request_fingerprint(provider, PATHS[provider], OLD_IDENTITY[provider])
    with WireVendor(Respond(200, FOUND_BODY[provider])) as vendor, ResponseStore(tmp_path / "s.sqlite") as store:
        store.record_outcome([], [StoredResponse(
            request_fingerprint=old_fp, provider=provider, status="found", phones=[("+14155550123", None)],
            raw={}, http_status=200, vendor_credits=None, matched=None, received_at=datetime.now(UTC))])
        rows, _ = walk(store, config(provider), vendor.base_url, [LOUD])
        again, _ = walk(store, config(provider), vendor.base_url, [QUIET])
    assert vendor.count == 0
    assert [(r.outcome, r.phones, r.from_cache) for r in rows + again] == [
        (RowOutcome.FOUND, ["+14155550123"], True)] * 2


def test_the_keys() -> None:
    assert name_key(" Jean-Pierre ") == name_key("JEAN PIERRE") == "jean pierre"
    assert name_key("O'Brien") == name_key("OBRIEN") == "obrien"
    assert name_key("Müller") != name_key("Muller")  # accents are the vendor's business
    assert company_key("ACME, Inc.") == company_key("Acme Inc") == company_key("acme") == "acme"
    assert company_key("The Acme & Sons GmbH") == "acme and sons"
    assert company_key("Inc") == "inc"  # a name that is only a legal form keeps it
    assert domain_key("https://WWW.Acme.io/about") == domain_key("acme.io.") == "acme.io"


@given(st.text(max_size=40))
def test_keys_are_stable(text: str) -> None:
    for key in (name_key, company_key):
        once = key(text)
        assert once is None or key(once) == once


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_keys_ignore_case(text: str) -> None:
    for key in (name_key, company_key):
        assert key(text.upper()) == key(text.lower()) == key(text)

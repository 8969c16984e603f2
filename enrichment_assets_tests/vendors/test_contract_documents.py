"""Contract tests from the vendors' documents, not from the sandbox.

The sandbox was written alongside the clients, so a wrong assumption shared by both passes every sandbox test.
Here each vendor's own examples (``doc_examples/<vendor>.json``: the documented request, the example answers
and each documented error, rewritten from the vendor's pages named in the file) are fed to the real client
through ``httpx.MockTransport`` and the real engine, and the test checks what the client sends (method, path,
auth header, body or query), what it reads (outcome, phones as written, claimed types) and what the ledger books
(outcome and credits per request, by the vendor's figure or the documented price rule).

Every documented price case is a plain test: the gaps found between the documents and the code (Crustdata's
``fields``, Enrich Layer's repeated numbers) are fixed, and a new one must arrive with its failing test.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import PENDING_OUTCOMES, RowOutcome
from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.registry import PROVIDER_NAMES, provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.vendors.helpers import KEY, SleepRecorder

EXAMPLES = Path(__file__).parent / "doc_examples"
DOCS: dict[str, dict[str, Any]] = {p: json.loads((EXAMPLES / f"{p}.json").read_text(encoding="utf-8"))
                                   for p in PROVIDER_NAMES}


def _lead(doc: dict[str, Any]) -> Lead:
    return Lead(list_id="docs", **doc["lead"])


class _Vendor:
    """Answers the scripted responses in order (the last repeats) and records every request."""

    def __init__(self, responses: list[dict[str, Any]]) -> None:
        self.responses = responses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        spec = self.responses[min(len(self.requests) - 1, len(self.responses) - 1)]
        body = spec["body"]
        if isinstance(body, dict) and body.get("record_id") == "{record_id}":  # Lantern echoes what it was sent
            body = {**body, "record_id": json.loads(request.content)["record_id"]}
        return httpx.Response(spec["status"], json=body, headers=spec.get("headers", {}))


class _Rows:
    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)


def _walk(tmp_path: Path, provider: str, responses: list[dict[str, Any]], **config: Any):
    """One documented lead through the real client and engine: (vendor, result rows, ledger rows, store, waits)."""
    doc = DOCS[provider]
    fast = {"max_retries": 1, "rate_limit_per_second": 1000, "burst": 1000}
    if provider == "crustdata":
        fast["batch_wait_seconds"] = 0  # a batch of one goes at once
    parsed = parse_config({"waterfall": {"order": [provider], "stop_when": "never"},
                           "providers": {provider: {**fast, **config}}})
    vendor = _Vendor(responses)
    sleep = SleepRecorder()

    def factory(name: str, journal):
        return provider_spec(name).client(parsed.provider(name), KEY, "https://vendor.test", journal,
                                          transport=httpx.MockTransport(vendor), backoff_base=0.001,
                                          backoff_max=0.002, sleep=sleep)

    store = ResponseStore(tmp_path / "store.sqlite")
    engine = WaterfallEngine(parsed, factory, store, run_id="run1", list_id="docs")
    sink = _Rows()
    asyncio.run(engine.run([_lead(doc)], sink))
    ledger = ledger_table(store).to_pylist()
    return vendor, sink.rows, ledger, store, sleep.waits


# ----------------------------------------------------------------------------------------------- what it sends

@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_the_request_is_the_documented_one(tmp_path: Path, provider: str) -> None:
    doc = DOCS[provider]
    expected = doc["request"]
    first_case = next(iter(doc["cases"].values()))
    vendor, _, _, store, _ = _walk(tmp_path, provider, first_case["responses"])
    store.close()
    request = vendor.requests[0]
    assert request.method == expected["method"]
    assert request.url.path == expected["path"]
    auth = expected["auth"]
    assert request.headers.get(auth["header"]) == auth["value"].format(key=KEY), dict(request.headers)
    for header in expected.get("not_headers", []):
        assert header not in request.headers, header
    for header, value in expected.get("headers", {}).items():
        assert request.headers.get(header) == value, header
    assert KEY not in str(request.url) and KEY.encode() not in request.content  # the key travels in its header only
    if "params" in expected:
        assert dict(request.url.params) == expected["params"]
    if expected.get("no_body"):
        assert request.content == b""
    if "json" in expected:
        assert request.headers["content-type"].startswith("application/json")
        body = json.loads(request.content)
        assert sorted(body) == sorted(expected["json_keys"]), body
        assert {k: body[k] for k in expected["json"]} == expected["json"]
        for key in expected.get("non_empty_string", []):
            assert isinstance(body[key], str) and body[key].strip(), key


# ---------------------------------------------------------------------------------- what it reads and books

CASES = [(p, name) for p in PROVIDER_NAMES for name in DOCS[p]["cases"]]


@pytest.mark.parametrize(("provider", "case"), CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_each_documented_answer_is_read_and_booked_as_documented(tmp_path: Path, provider: str, case: str) -> None:
    spec = DOCS[provider]["cases"][case]
    _, rows, ledger, store, waits = _walk(tmp_path, provider, spec["responses"])
    (row,) = rows
    if spec["outcome"] == "pending":
        # An error the vendor says to retry: never an answer, never a charge the ledger is sure of.
        assert RowOutcome(row.outcome) in PENDING_OUTCOMES, row
        assert sum(r["credits"] for r in ledger) == spec["certain_credits"]
        assert store.fresh_response(row.request_fingerprint, timedelta(days=1)) is None
        store.close()
        return
    assert row.outcome == spec["outcome"], (row.outcome, row.error)
    if "phones" in spec:
        assert row.phones == spec["phones"]
    if "claimed_types" in spec:
        assert row.claimed_types == spec["claimed_types"]
    if "error_contains" in spec:
        assert spec["error_contains"] in (row.error or ""), row.error
    booked = [(r["outcome"], r["credits"], r["credit_basis"]) for r in ledger]
    assert [(o, c) for o, c, _ in booked] == [(o, c) for o, c, _ in spec["ledger"]], booked
    for (_, _, basis), (_, _, documented) in zip(booked, spec["ledger"], strict=True):
        if documented is not None:
            assert basis == documented, booked
    assert row.credits == sum(r["credits"] for r in ledger)
    if "waited_at_least" in spec:
        # The pause runs from when the 429 arrived, so the recorded wait is what was left of it (a hair less).
        assert sum(waits) >= spec["waited_at_least"] - 0.05, waits
    stored = store.fresh_response(row.request_fingerprint, timedelta(days=1))
    assert (stored is not None) == (spec["outcome"] in ("found", "not_found")), spec
    store.close()


def test_pronto_never_asks_for_personal_email_without_the_accounts_consent(tmp_path: Path) -> None:
    """The document: personal_email without consent is a 422 for the whole request (phone part lost)."""
    found = DOCS["pronto"]["cases"]["found_strings"]["responses"]
    vendor, _, _, store, _ = _walk(tmp_path, "pronto", found, enrichment_type=["phone", "personal_email"])
    store.close()
    assert json.loads(vendor.requests[0].content)["enrichment_type"] == ["phone"]


PRICED = [pytest.param(p, name, id=f"{p}-{name}") for p in PROVIDER_NAMES for name in DOCS[p].get("priced_cases", {})]


def _check_credits(tmp_path: Path, provider: str, spec: dict[str, Any]) -> None:
    _, _, ledger, store, _ = _walk(tmp_path, provider, spec["responses"], **spec.get("config", {}))
    store.close()
    credits = sum(r["credits"] for r in ledger)
    if "certain_credits" in spec:
        assert credits == spec["certain_credits"], spec["issue"]
    if "certain_credits_at_least" in spec:
        assert credits >= spec["certain_credits_at_least"], spec["issue"]


@pytest.mark.parametrize(("provider", "case"), PRICED)
def test_documented_prices_that_depend_on_the_request(tmp_path: Path, provider: str, case: str) -> None:
    """Prices the documents give for a setting (Crustdata's ``fields``) or an answer's shape (repeated numbers)."""
    _check_credits(tmp_path, provider, DOCS[provider]["priced_cases"][case])


def test_no_gap_is_listed_without_a_test() -> None:
    """The examples file may not park a documented behaviour as a known gap: each case here is tested."""
    assert [p for p in PROVIDER_NAMES if DOCS[p].get("known_gaps")] == []

"""One outcome vocabulary: the client's reading of a response decides the result row and the ledger row alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import PENDING_OUTCOMES, CallStatus, LedgerOutcome, RowOutcome
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.vendors.helpers import MockVendor

LEAD = Lead("l1", "r1", "Jane", "Doe", "Acme", "acme.io", "jane.doe@acme.io",
            "https://www.linkedin.com/in/jane-doe-4711", "US")


def test_the_values_are_the_tables_contract() -> None:
    assert [o.value for o in RowOutcome] == ["found", "not_found", "ineligible", "skipped_budget",
                                             "provider_unavailable", "error", "unknown", "skipped_no_key"]
    assert {o.value for o in LedgerOutcome} == {"found", "not_found", "error", "rate_limited", "out_of_credits",
                                                "provider_unavailable", "unknown"}
    assert {RowOutcome.SKIPPED_BUDGET, RowOutcome.UNAVAILABLE, RowOutcome.ERROR,
            RowOutcome.UNKNOWN, RowOutcome.SKIPPED_NO_KEY} == PENDING_OUTCOMES


@pytest.mark.parametrize("status", list(CallStatus))
def test_every_call_status_maps_to_a_row_and_a_ledger_outcome(status: CallStatus) -> None:
    assert isinstance(status.row_outcome, RowOutcome)
    assert status.row_outcome is (RowOutcome.UNAVAILABLE if status.stops_provider else RowOutcome(status.value))
    if status is CallStatus.SKIPPED_BUDGET:
        with pytest.raises(ValueError, match="sent no request"):
            _ = status.ledger_outcome
    else:
        assert status.ledger_outcome.value == status.value


class Rows:
    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)


def walk(tmp_path: Path, provider: str, *responses: httpx.Response | Exception) -> tuple[list, list]:
    """One lead through one real client whose vendor answers ``responses``: its result rows and ledger rows."""
    config = parse_config({"waterfall": {"order": [provider]},
                           "providers": {provider: {"max_retries": 0, "rate_limit_per_second": 1000}}})
    vendor = MockVendor(*responses)

    def factory(name: str, journal):
        return provider_spec(name).client(config.provider(name), "test-key-0000", "https://vendor.test", journal,
                                          transport=httpx.MockTransport(vendor), backoff_base=0.001,
                                          max_rate_limit_retries=0)

    with ResponseStore(tmp_path / "store.sqlite") as store:
        engine = WaterfallEngine(config, factory, store, run_id="run1", list_id="l1")
        sink = Rows()
        asyncio.run(engine.run([LEAD], sink))
        return sink.rows, store.attempts()


@pytest.mark.parametrize(("provider", "response", "row", "ledger"), [
    # 403s mean what the vendor's document says: Enrich Layer's is out of credits, Crustdata's reads the body.
    ("enrichlayer", httpx.Response(403, json={"description": "You have run out of credits", "code": 403}),
     RowOutcome.UNAVAILABLE, LedgerOutcome.OUT_OF_CREDITS),
    ("crustdata", httpx.Response(403, json={"error": "Insufficient credits for this request"}),
     RowOutcome.UNAVAILABLE, LedgerOutcome.OUT_OF_CREDITS),
    ("crustdata", httpx.Response(403, json={"error": "You do not have access to contact enrich"}),
     RowOutcome.UNAVAILABLE, LedgerOutcome.UNAVAILABLE),
    ("lantern", httpx.Response(400, json={"success": False, "error": "Not enough credits", "credits_required": 1,
                                          "credits_remaining": 0}),
     RowOutcome.UNAVAILABLE, LedgerOutcome.OUT_OF_CREDITS),
    ("leadmagic", httpx.Response(402, json={"message": "Payment required"}),
     RowOutcome.UNAVAILABLE, LedgerOutcome.OUT_OF_CREDITS),
    ("pronto", httpx.Response(401, json={"message": "Invalid API key"}), RowOutcome.UNAVAILABLE,
     LedgerOutcome.UNAVAILABLE),
    ("leadmagic", httpx.Response(410, json={"message": "Gone"}), RowOutcome.UNAVAILABLE, LedgerOutcome.UNAVAILABLE),
    ("leadmagic", httpx.Response(400, json={"message": "bad input"}), RowOutcome.ERROR, LedgerOutcome.ERROR),
    # A 5xx may have been billed: unknown (pending), unless the vendor documents it as free (Enrich Layer).
    ("leadmagic", httpx.Response(500, json={"message": "oops"}), RowOutcome.UNKNOWN, LedgerOutcome.UNKNOWN),
    ("enrichlayer", httpx.Response(503, json={"description": "Enrichment failed"}), RowOutcome.ERROR,
     LedgerOutcome.ERROR),
    ("pronto", httpx.ReadTimeout("timed out"), RowOutcome.UNKNOWN, LedgerOutcome.UNKNOWN),
    ("leadmagic", httpx.Response(429, json={"message": "slow down"}), RowOutcome.ERROR, LedgerOutcome.RATE_LIMITED),
    ("lantern", httpx.ConnectError("refused"), RowOutcome.ERROR, LedgerOutcome.ERROR),
    ("enrichlayer", httpx.Response(404, json={"description": "Profile not found"}), RowOutcome.NOT_FOUND,
     LedgerOutcome.NOT_FOUND),
])
def test_the_ledger_books_what_the_client_read(tmp_path: Path, provider: str, response: object, row: RowOutcome,
                                               ledger: LedgerOutcome) -> None:
    rows, attempts = walk(tmp_path, provider, response)
    assert [r.outcome for r in rows] == [row]
    assert [(a.outcome, a.credits) for a in attempts] == [(ledger, 0.0)]
    if ledger is LedgerOutcome.OUT_OF_CREDITS:
        assert rows[0].error.startswith("out of credits")


def test_a_budget_skip_is_its_own_status_and_sends_nothing(tmp_path: Path) -> None:
    config = parse_config({"waterfall": {"order": ["leadmagic"]},
                           "providers": {"leadmagic": {"max_credits_per_run": 1}}})
    vendor = MockVendor(httpx.Response(200, json={"mobile_number": None, "credits_consumed": 0, "message": "No"}))

    def factory(name: str, journal):
        return provider_spec(name).client(config.provider(name), "test-key-0000", "https://vendor.test", journal,
                                          transport=httpx.MockTransport(vendor))

    with ResponseStore(tmp_path / "store.sqlite") as store:
        engine = WaterfallEngine(config, factory, store, run_id="run1", list_id="l1")
        sink = Rows()
        asyncio.run(engine.run([LEAD], sink))
        assert store.attempts() == []
    assert vendor.count == 0
    assert [(r.outcome, r.error) for r in sink.rows] == [(RowOutcome.SKIPPED_BUDGET, None)]
    assert engine.stats.providers["leadmagic"].skipped_budget == 1

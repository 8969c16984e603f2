"""Exactly-once accounting when the answer is lost: through the real clients, over real HTTP, to a vendor that
misbehaves after it has read the request (``enrichment_assets_tests/wire_vendor.py``).

A request whose outcome the client cannot know (a timeout after sending, a dropped or reset connection, a 5xx,
a 408, a 2xx that is not JSON) is booked ``unknown`` at its worst case, keeps its budget reservation, is asked
again at once only where a repeat cannot bill twice (Lantern's record_id), and is settled by a later answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import LedgerOutcome, RowOutcome, UnknownSettlement
from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.vendors.helpers import FOUND_BODY, NOT_FOUND_BODY
from enrichment_assets_tests.wire_vendor import Drop, Reset, Respond, WireVendor

TIMEOUT = 1.0  # a deadline a loaded machine still connects to localhost within (else: not sent, retried)
LOST = {  # what the vendor does after reading the request (and, for all we know, doing the work)
    "held past the timeout": Respond(200, FOUND_BODY["leadmagic"], delay=TIMEOUT * 4),
    "connection dropped": Drop(),
    "connection reset": Reset(),
    "500": Respond(500, {"message": "Internal server error. Wait 30 seconds and retry."}),
    "408": Respond(408, {"message": "Request timeout"}),
    "200 not JSON": Respond(200, raw=b'{"profile_url": "https://www.linkedin.com/in/x", "mobile_n'),
}


class Rows:
    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)


def leads(n: int, prefix: str = "p") -> list[Lead]:
    return [Lead("l1", f"r{i}", "Ann", f"Lee{i}", "Acme", "acme.io", None,
                 f"https://www.linkedin.com/in/{prefix}{i}", "US") for i in range(n)]


def config(provider: str, **overrides: Any):
    settings = {"timeout_seconds": TIMEOUT, "max_retries": 2, "rate_limit_per_second": 1000, "burst": 1000,
                **overrides}
    return parse_config({"waterfall": {"order": [provider]}, "providers": {provider: settings}})


def walk(store: ResponseStore, cfg, base_url: str, items: list[Lead], run_id: str = "run1"):
    def factory(name: str, journal):
        return provider_spec(name).client(cfg.provider(name), "test-key-0000", base_url, journal,
                                          backoff_base=0.001, backoff_max=0.002)

    engine = WaterfallEngine(cfg, factory, store, run_id=run_id, list_id="l1")
    sink = Rows()
    asyncio.run(engine.run(items, sink))
    return sink.rows, engine


def ledger(store: ResponseStore) -> list[dict]:
    return ledger_table(store).to_pylist()


@pytest.mark.parametrize("lost", list(LOST))
def test_a_lost_answer_is_unknown_at_its_worst_case_and_not_bought_twice(tmp_path: Path, lost: str) -> None:
    with WireVendor(LOST[lost]) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        rows, engine = walk(store, config("leadmagic"), vendor.base_url, leads(1))
        (attempt,) = store.attempts()
        (entry,) = ledger(store)
    # LeadMagic bills a repeated question again: it is not asked twice in the run.
    assert vendor.count == 1
    assert [r.outcome for r in rows] == [RowOutcome.UNKNOWN]  # the lead is pending
    assert (attempt.outcome, attempt.credits, attempt.worst_case_credits) == (LedgerOutcome.UNKNOWN, 0.0, 5.0)
    assert (entry["outcome"], entry["credits"], entry["worst_case_credits"], entry["uncertain_credits"]) == (
        "unknown", 0.0, 5.0, 5.0)
    # Counted against the budget: the reservation is kept as spent.
    assert engine.budgets["leadmagic"].spent == 5.0
    assert engine.stats.providers["leadmagic"].unknown == 1
    assert engine.stats.providers["leadmagic"].uncertain_credits == 5.0


def test_unknown_outcomes_use_up_the_budget(tmp_path: Path) -> None:
    held = Respond(200, FOUND_BODY["leadmagic"], delay=TIMEOUT * 4)
    with WireVendor(held) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        rows, engine = walk(store, config("leadmagic", max_credits_per_run=10, max_concurrency=1),
                            vendor.base_url, leads(3))
    # Two lost answers may have cost 5 each: a third request would break the cap of 10.
    assert vendor.count == 2
    assert sorted(r.outcome for r in rows) == sorted([RowOutcome.UNKNOWN] * 2 + [RowOutcome.SKIPPED_BUDGET])
    assert engine.budgets["leadmagic"].spent == 10.0


def test_lantern_asks_again_at_once_with_the_same_record_id_and_settles_as_billed_once(tmp_path: Path) -> None:
    script = [Respond(200, FOUND_BODY["lantern"], delay=TIMEOUT * 4), Respond(200, FOUND_BODY["lantern"])]
    with WireVendor(script) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        rows, engine = walk(store, config("lantern"), vendor.base_url, leads(1))
        first, second = store.attempts()
        entries = {e["entry_id"]: e for e in ledger(store)}
    assert vendor.count == 2
    assert vendor.requests[0].json()["record_id"] == vendor.requests[1].json()["record_id"]
    assert [r.outcome for r in rows] == [RowOutcome.FOUND]
    assert (second.outcome, second.credits) == (LedgerOutcome.FOUND, 1.0)
    # The timed-out request and its answer are one charge for a vendor that de-duplicates by record_id.
    assert (first.outcome, first.settled_by, first.settlement) == (
        LedgerOutcome.UNKNOWN, second.attempt_id, UnknownSettlement.BILLED_ONCE)
    assert entries[first.attempt_id]["uncertain_credits"] == 0.0
    assert engine.budgets["lantern"].spent == 1.0


def test_a_later_run_asks_again_and_settles_the_unknown_request(tmp_path: Path) -> None:
    script = [Respond(200, FOUND_BODY["leadmagic"], delay=TIMEOUT * 4), Respond(200, FOUND_BODY["leadmagic"])]
    with WireVendor(script) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        first_rows, _ = walk(store, config("leadmagic"), vendor.base_url, leads(1), run_id="run1")
        second_rows, _ = walk(store, config("leadmagic"), vendor.base_url, leads(1), run_id="run2")
        third_rows, _ = walk(store, config("leadmagic"), vendor.base_url, leads(1), run_id="run3")
        lost, answered = store.attempts()
        entries = {e["entry_id"]: e for e in ledger(store)}
    assert vendor.count == 2  # run 2 asked again (next_run); run 3 answered from the store
    assert [r.outcome for r in first_rows + second_rows + third_rows] == [
        RowOutcome.UNKNOWN, RowOutcome.FOUND, RowOutcome.FOUND]
    assert third_rows[0].from_cache
    # The lost request stays unknown (LeadMagic may have billed it too), settled by the later answer.
    assert (lost.outcome, lost.settled_by, lost.settlement) == (
        LedgerOutcome.UNKNOWN, answered.attempt_id, UnknownSettlement.ASKED_AGAIN)
    assert entries[lost.attempt_id]["settled_by"] == answered.attempt_id
    assert entries[lost.attempt_id]["uncertain_credits"] == 5.0
    assert (entries[answered.attempt_id]["outcome"], entries[answered.attempt_id]["credits"]) == ("found", 5.0)


def test_enrichlayer_5xx_is_free_and_asked_again_but_a_timeout_is_not(tmp_path: Path) -> None:
    found = Respond(200, FOUND_BODY["enrichlayer"])
    with WireVendor([Respond(503, {"description": "Enrichment failed"}), found]) as vendor, \
            ResponseStore(tmp_path / "a.sqlite") as store:
        rows, _ = walk(store, config("enrichlayer"), vendor.base_url, leads(1))
        outcomes = [(a.outcome, a.credits) for a in store.attempts()]
    assert vendor.count == 2 and [r.outcome for r in rows] == [RowOutcome.FOUND]
    assert outcomes == [(LedgerOutcome.ERROR, 0.0), (LedgerOutcome.FOUND, 2.0)]
    with WireVendor([Respond(200, FOUND_BODY["enrichlayer"], delay=TIMEOUT * 4), found]) as vendor, \
            ResponseStore(tmp_path / "b.sqlite") as store:
        rows, _ = walk(store, config("enrichlayer"), vendor.base_url, leads(1))
    assert vendor.count == 1 and [r.outcome for r in rows] == [RowOutcome.UNKNOWN]


def test_a_not_found_answer_after_a_lost_one_is_stored_and_settles(tmp_path: Path) -> None:
    script = [Drop(), Respond(200, NOT_FOUND_BODY["pronto"])]
    with WireVendor(script) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        walk(store, config("pronto"), vendor.base_url, leads(1), run_id="run1")
        rows, _ = walk(store, config("pronto"), vendor.base_url, leads(1), run_id="run2")
        lost, answered = store.attempts()
    assert [r.outcome for r in rows] == [RowOutcome.NOT_FOUND] and vendor.count == 2
    assert lost.settled_by == answered.attempt_id and answered.credits == 0.0


def test_a_lost_crustdata_batch_is_one_unknown_request_at_the_whole_batchs_worst_case(tmp_path: Path) -> None:
    # A batch re-sent after a 500 would bill every one of its leads again (3 credits each): it is not re-sent.
    failed = Respond(500, {"error": "Internal server error, retry with backoff"})
    cfg = config("crustdata", batch_size=10, batch_wait_seconds=0.05)
    with WireVendor(failed) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        rows, engine = walk(store, cfg, vendor.base_url, leads(3))
        (attempt,) = store.attempts()
        (entry,) = ledger(store)
    assert vendor.count == 1
    assert [r.outcome for r in rows] == [RowOutcome.UNKNOWN] * 3  # every lead of the batch is pending
    assert (attempt.outcome, attempt.credits, attempt.worst_case_credits) == (LedgerOutcome.UNKNOWN, 0.0, 9.0)
    assert len(entry["record_ids"]) == 3 and entry["uncertain_credits"] == 9.0
    assert engine.budgets["crustdata"].spent == 9.0

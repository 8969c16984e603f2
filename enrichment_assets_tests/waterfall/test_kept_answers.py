"""Paid answers are kept as they arrived and never bought again: when the store refuses to record a batch's
answers, when an answer cannot be read (an unexpected shape, a Crustdata ``matched_on`` that matches nothing that
was sent). Real clients over real HTTP (``wire_vendor.py``), a real SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from enrichment_assets.outcomes import LedgerOutcome, RowOutcome, UnknownSettlement
from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.leadmagic import LeadMagicClient
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall import settlement
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.waterfall.test_lost_answers import Rows, config, leads, walk
from enrichment_assets_tests.wire_vendor import Respond, WireRequest, WireVendor

SQLITE_INSERT = 18


def crustdata_answer(n: int, request: WireRequest, matched_on: Any = None) -> Respond:
    urls = request.json()["professional_network_profile_urls"]
    return Respond(200, [{"matched_on": matched_on or url, "match_type": "professional_network_profile_url",
                          "matches": [{"confidence_score": 1.0, "person_data": {"contact": {
                              "phone_numbers": [f"+1-555-01{i:02d}"]}}}]} for i, url in enumerate(urls)])


def crustdata_config():
    return config("crustdata", batch_size=10, batch_wait_seconds=0.05, timeout_seconds=5)


def keep_a_batch_answer_the_store_refuses(store: ResponseStore, vendor: WireVendor, items: list) -> None:
    """Run ``items`` through Crustdata while the store refuses to record answers: the batch's answer is only kept."""
    def refuse_responses(action: int, table: str | None, *_: object) -> int:
        return sqlite3.SQLITE_DENY if action == SQLITE_INSERT and table == "responses" else sqlite3.SQLITE_OK

    store._conn.set_authorizer(refuse_responses)
    rows = Rows()

    def factory(name: str, journal):
        return provider_spec(name).client(crustdata_config().provider(name), "test-key-0000", vendor.base_url,
                                          journal)

    engine = WaterfallEngine(crustdata_config(), factory, store, run_id="run1", list_id="l1")

    async def bounded() -> None:
        await asyncio.wait_for(engine.run(items, rows), timeout=30)  # a hang is a failure, not a stuck suite

    asyncio.run(bounded())
    assert vendor.count == 1
    assert [r.outcome for r in rows.rows] == [RowOutcome.ERROR] * len(items)  # pending: asked again next run
    assert all("not recorded" in r.error for r in rows.rows)
    store._conn.set_authorizer(None)


def test_a_batch_whose_answers_the_store_refuses_fails_its_leads_and_the_next_run_reads_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settlement, "WRITE_RETRY_WAITS", (0.01, 0.01))
    items = leads(3)
    with WireVendor(crustdata_answer) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        keep_a_batch_answer_the_store_refuses(store, vendor, items)
        again, _ = walk(store, crustdata_config(), vendor.base_url, items, run_id="run2")
        (attempt,) = store.attempts()
    assert vendor.count == 1  # the kept answer was read: nothing bought again
    assert [r.outcome for r in again] == [RowOutcome.FOUND] * 3 and all(r.from_cache for r in again)
    assert (attempt.outcome, attempt.credits, attempt.settlement) == (
        LedgerOutcome.FOUND, 9.0, UnknownSettlement.READ_LATER)
    assert attempt.run_id == "run1"  # the request stays the run's that sent it


class KeptAnswerReadMeanwhile(ResponseStore):
    """A store in which, just as a lookup looks at the kept answers, another lead reads the kept batch answer that
    holds its question too (``read_meanwhile``, run in another thread and finished first): what a slow lead of a
    batch meets when a faster one read their kept answer after the slow one looked for a stored answer."""

    read_meanwhile: Callable[[], object] | None = None

    def kept_answers(self, request_fingerprint: str) -> list:
        other, self.read_meanwhile = self.read_meanwhile, None
        if other is not None:
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(timeout=30)
        return super().kept_answers(request_fingerprint)


def test_a_question_whose_kept_batch_answer_another_lead_read_meanwhile_is_not_bought_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen under load in the suite: the second lead found no stored answer, then no unread kept answer (the first
    lead had just read it, storing every answer of the batch), and bought its question again."""
    monkeypatch.setattr(settlement, "WRITE_RETRY_WAITS", (0.01, 0.01))
    items = leads(3)
    with WireVendor(crustdata_answer) as vendor, KeptAnswerReadMeanwhile(tmp_path / "store.sqlite") as store:
        keep_a_batch_answer_the_store_refuses(store, vendor, items)
        store.read_meanwhile = lambda: walk(store, crustdata_config(), vendor.base_url, items[:1], run_id="run2")
        second, _ = walk(store, crustdata_config(), vendor.base_url, items[1:2], run_id="run3")
        (attempt,) = store.attempts()
    assert vendor.count == 1  # bought once, by run1
    assert [(r.outcome, r.from_cache) for r in second] == [(RowOutcome.FOUND, True)]
    assert (attempt.outcome, attempt.settlement) == (LedgerOutcome.FOUND, UnknownSettlement.READ_LATER)


def test_an_answer_of_an_unexpected_shape_is_kept_and_read_after_a_parser_fix(tmp_path: Path) -> None:
    # LeadMagic starts answering the number as an object: today's parser cannot read it.
    odd = {"profile_url": "x", "mobile_number": {"e164": "+15551234567"}, "credits_consumed": 5, "message": "ok"}

    class FixedLeadMagic(LeadMagicClient):
        parser_version = LeadMagicClient.parser_version + 1

        def parse_success(self, body, exchange):
            if isinstance(body, dict) and isinstance(body.get("mobile_number"), dict):
                body = {**body, "mobile_number": body["mobile_number"]["e164"]}
            return super().parse_success(body, exchange)

    cfg = config("leadmagic")
    with WireVendor(Respond(200, odd)) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        first, _ = walk(store, cfg, vendor.base_url, leads(1), run_id="run1")
        second, _ = walk(store, cfg, vendor.base_url, leads(1), run_id="run2")
        unknown = {e["entry_id"]: e for e in ledger_table(store).to_pylist()}

        def fixed(name: str, journal):
            return FixedLeadMagic(cfg.provider(name), "test-key-0000", vendor.base_url, journal)

        engine = WaterfallEngine(cfg, fixed, store, run_id="run3", list_id="l1")
        third = Rows()
        asyncio.run(engine.run(leads(1), third))
        (attempt,) = store.attempts()
        booked = {e["entry_id"]: e for e in ledger_table(store).to_pylist()}
    assert vendor.count == 1  # paid once; read three times
    assert [r.outcome for r in first + second] == [RowOutcome.ERROR, RowOutcome.ERROR]  # pending, not re-bought
    assert "answer kept" in first[0].error
    assert (unknown[attempt.attempt_id]["outcome"], unknown[attempt.attempt_id]["uncertain_credits"]) == (
        "unknown", 5.0)
    assert [(r.outcome, r.phones, r.from_cache) for r in third.rows] == [(RowOutcome.FOUND, ["+15551234567"], True)]
    assert (attempt.outcome, attempt.credits, attempt.credit_basis, attempt.settlement) == (
        LedgerOutcome.FOUND, 5.0, "vendor_reported", UnknownSettlement.READ_LATER)
    assert booked[attempt.attempt_id]["uncertain_credits"] == 0.0


def test_a_crustdata_answer_matched_on_something_else_is_kept_not_bought_again(tmp_path: Path) -> None:
    def elsewhere(n: int, request: WireRequest) -> Respond:
        return crustdata_answer(n, request, matched_on="https://www.linkedin.com/in/someone-else")

    items = leads(2)
    with WireVendor(elsewhere) as vendor, ResponseStore(tmp_path / "store.sqlite") as store:
        first, _ = walk(store, crustdata_config(), vendor.base_url, items, run_id="run1")
        second, _ = walk(store, crustdata_config(), vendor.base_url, items, run_id="run2")
        (attempt,) = store.attempts()
    assert vendor.count == 1
    assert [r.outcome for r in first + second] == [RowOutcome.ERROR] * 4
    assert attempt.outcome == LedgerOutcome.UNKNOWN and attempt.worst_case_credits == 6.0


class BusyStore(ResponseStore):
    """A store on a busy disk: each COMMIT waits 0.15 s, longer than Crustdata's batch wait (0.05 s). The first
    lead's claim commits alone; the others', queued meanwhile, commit together 0.15 s later."""

    @contextmanager
    def group(self) -> Iterator[None]:
        with super().group():
            yield
            time.sleep(0.15)


def test_a_batch_waits_for_the_leads_still_reading_the_store_and_claiming(tmp_path: Path) -> None:
    """Store latency (a look for a stored answer, the claim of the request) must not split a batch: leads that
    came to Crustdata and are still at the store join the batch whose wait (0.05 s) ran out meanwhile, instead of
    each paying for a request of its own."""
    items = leads(4)
    with WireVendor(crustdata_answer) as vendor, BusyStore(tmp_path / "store.sqlite") as store:
        rows, _ = walk(store, crustdata_config(), vendor.base_url, items)
        (attempt,) = store.attempts()
    assert vendor.count == 1 and len(attempt.request_fingerprints) == 4
    assert [r.outcome for r in rows] == [RowOutcome.FOUND] * 4

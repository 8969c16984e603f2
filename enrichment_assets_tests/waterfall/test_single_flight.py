"""Single flight across processes, engine by engine: two engines with their own store handles and leases on one
state store (each backend) stand for two processes; a request one of them has claimed is never sent by the other."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import CallStatus, RowOutcome
from enrichment_assets.storage.response_store import Lease
from enrichment_assets.storage.state_store import open_state_store
from enrichment_assets.vendors.base import request_fingerprint
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets_tests.waterfall.fakes import MOBILE_DE, FakeClient, ListSink

CONFIG = {"waterfall": {"order": ["leadmagic"], "stop_when": "mobile"},
          "providers": {p: {"enabled": False} for p in ("pronto", "lantern", "crustdata", "enrichlayer")}}
SHARED = "https://www.linkedin.com/in/shared"


def lead(list_id: str, record_id: str, url: str = SHARED) -> Lead:
    return Lead(list_id, record_id, "Ann", "Lee", "Acme", "acme.de", None, url, "DE")


def engine_on(backend: tuple[Path, str | None], run_id: str, fake: dict, made: list[FakeClient],
              handle: Callable[[Any], Any] = lambda store: store):
    """An engine for one process; ``handle`` may wrap its store handle."""
    store = handle(open_state_store(*backend))

    def factory(provider: str, journal):
        client = FakeClient(provider, journal, {SHARED: [(MOBILE_DE, "mobile")]}, **fake)
        made.append(client)
        return client

    return WaterfallEngine(parse_config(CONFIG), factory, store, run_id=run_id, list_id=run_id), store


def run_both(backend: tuple[Path, str | None], fake: dict) -> tuple[list[FakeClient], ListSink, ListSink, object]:
    made: list[FakeClient] = []
    a, store_a = engine_on(backend, "run_a", fake, made)
    b, store_b = engine_on(backend, "run_b", fake, made)
    sink_a, sink_b = ListSink(), ListSink()

    async def both() -> None:
        first = asyncio.create_task(a.run([lead("run_a", "a1")], sink_a))
        await asyncio.sleep(0.2)  # a's request is on the wire when b needs the same answer
        await asyncio.gather(first, b.run([lead("run_b", "b1"), lead("run_b", "b2", "https://www.linkedin.com/in/own")],
                                          sink_b))

    asyncio.run(both())
    store_b.close()
    return made, sink_a, sink_b, store_a


def test_a_request_claimed_by_another_process_is_waited_for_not_sent(state_backend) -> None:
    made, sink_a, sink_b, store = run_both(state_backend, {"delay": 1.0})
    try:
        assert sum(c.requests for c in made) == 2  # the shared question once, b's own once
        (row_a,) = sink_a.rows
        row_b = next(r for r in sink_b.rows if r.record_id == "b1")
        assert row_a.phones == row_b.phones == [MOBILE_DE]
        assert (row_a.from_cache, row_a.credits) == (False, 5.0)
        # b paid nothing, and its row says when the answer it used arrived (so the next walk keeps it).
        assert (row_b.from_cache, row_b.credits) == (True, 0.0) and row_b.called_at is not None
        assert [a.run_id for a in store.attempts() if a.record_ids == ["a1"]] == ["run_a"]
        assert store.claim_of(request_fingerprint("leadmagic", "/fake", {"linkedin_url": SHARED})) is None
    finally:
        store.close()


def test_an_unknown_outcome_elsewhere_leaves_the_waiting_lead_pending_without_a_request(state_backend) -> None:
    made, sink_a, sink_b, store = run_both(state_backend, {"delay": 1.0, "status": CallStatus.UNKNOWN})
    try:
        assert sum(c.requests for c in made) == 2
        row_b = next(r for r in sink_b.rows if r.record_id == "b1")
        assert sink_a.rows[0].outcome is RowOutcome.UNKNOWN
        assert row_b.outcome is RowOutcome.UNKNOWN and row_b.credits == 0.0
        assert not [a for a in store.attempts() if a.run_id == "run_b" and "b1" in a.record_ids]
    finally:
        store.close()


def test_the_claim_of_a_dead_process_is_taken_over(state_backend) -> None:
    fp = request_fingerprint("leadmagic", "/fake", {"linkedin_url": SHARED})
    with open_state_store(*state_backend) as store:  # a process that claimed the request and died
        store.acquire_lease(Lease("dead", "run_dead", 1, "h", datetime.now(UTC) + timedelta(seconds=1)))
        assert store.claim(fp, "dead") is None
    made: list[FakeClient] = []
    engine, store = engine_on(state_backend, "run_b", {}, made)
    sink = ListSink()

    # Held while the dead process's lease lives (1 s): the engine waits, then takes the claim over and asks.
    asyncio.run(engine.run([lead("run_b", "b1")], sink))
    try:
        assert made[0].requests == 1 and sink.rows[0].phones == [MOBILE_DE]
    finally:
        store.close()


class AnsweredJustAfterTheFirstLook:
    """A store handle on which another process answers the shared request just after this one first looked for it
    (``meanwhile``, that process's whole walk, runs before the look returns): the window between a lookup's first
    look in the store and its claim. Every other use goes to the handle unchanged."""

    def __init__(self, store, meanwhile) -> None:
        self._store = store
        self._meanwhile = meanwhile

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def fresh_response(self, *args, **kwargs):
        found = self._store.fresh_response(*args, **kwargs)
        meanwhile, self._meanwhile = self._meanwhile, None
        if meanwhile is not None and found is None:
            other = threading.Thread(target=meanwhile)  # its own event loop, its own store handle
            other.start()
            other.join(timeout=30)
            assert not other.is_alive(), "the other process's walk did not end"
        return found


def test_an_answer_another_process_stored_between_the_first_look_and_the_claim_is_not_bought_again(
        state_backend) -> None:
    """Process a asks the shared question and releases its claim after b's first look found nothing: b's claim
    then succeeds, and only its last look in the store (after the claim) keeps it from asking again."""
    made: list[FakeClient] = []
    a, store_a = engine_on(state_backend, "run_a", {}, made)
    sink_a, sink_b = ListSink(), ListSink()
    b, store_b = engine_on(state_backend, "run_b", {}, made, lambda store: AnsweredJustAfterTheFirstLook(
        store, lambda: asyncio.run(a.run([lead("run_a", "a1")], sink_a))))
    asyncio.run(b.run([lead("run_b", "b1")], sink_b))
    try:
        (row_a,), (row_b,) = sink_a.rows, sink_b.rows
        assert sum(c.requests for c in made) == 1  # a's; without the last look, b asks again
        assert (row_a.from_cache, row_a.credits) == (False, 5.0)
        assert (row_b.from_cache, row_b.credits, row_b.phones) == (True, 0.0, [MOBILE_DE])
        assert [a.run_id for a in store_a.attempts()] == ["run_a"]
    finally:
        store_b.close()
        store_a.close()

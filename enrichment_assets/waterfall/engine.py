"""The pipelined waterfall: every lead walks the providers in order on its own.

Many leads are in flight at once; each vendor client holds its own rate limit and concurrency cap, so a lead
that missed at provider 1 is already at provider 2 while others still queue for provider 1, and wall time tends
to ``max over providers (calls / rate limit)`` rather than the sum.

For each lead and provider, in order:

1. suppressed leads go nowhere (status ``suppressed``);
2. a lead lacking what the vendor needs is ``ineligible`` (no call);
3. a stored response younger than ``cache_ttl_days`` answers the request (``from_cache``: no call, no ledger
   row), also under the fingerprint an older version of the client gave the same question;
4. a provider the run has no key for (live mode) asks nothing: the lead is ``skipped_no_key`` there (pending);
   an identical request already in flight is shared, not sent twice: in this process, and across processes
   through a claim in the state store (``waterfall/single_flight.py``);
5. a paid answer kept as it arrived but not read yet (unreadable until a parser fix) is read again: it answers
   the request, or the lead stays pending; it is never bought again (nor is a question whose answer another
   lead's reading of a kept batch answer stored meanwhile);
6. the worst-case cost is reserved against ``max_credits_per_run``; if it does not fit, the lead is
   ``skipped_budget`` there;
7. otherwise the vendor is called (a batching vendor through a batcher, ``waterfall/batcher.py``); the response
   and the ledger entry are stored durably before the lead moves on (``waterfall/journal.py``,
   ``waterfall/settlement.py``). A request whose outcome is unknown (sent, no usable answer) keeps its
   reservation as spent and leaves the lead pending.

The lead stops at the first provider whose numbers meet ``stop_when``. While it runs, the engine holds a lease
in the store (``storage/lease.py``) that every request it sends names; the store's I/O runs off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import CallStatus, RowOutcome
from enrichment_assets.phones.parse import region_hints
from enrichment_assets.storage.lease import LeaseKeeper
from enrichment_assets.storage.state_store import StateStore, StoredResponse
from enrichment_assets.storage.store_io import StoreIO
from enrichment_assets.vendors.base import PhoneClaim, VendorResult, request_fingerprint
from enrichment_assets.vendors.batching import supports_batching
from enrichment_assets.vendors.retry import RetryUnknown
from enrichment_assets.waterfall.batcher import Batcher
from enrichment_assets.waterfall.journal import RunBooks, StoreJournal
from enrichment_assets.waterfall.pricing import Budget, worst_case_credits
from enrichment_assets.waterfall.results import ProviderRow, ProviderStats, ResultSink, WaterfallStats, row_from_stored
from enrichment_assets.waterfall.settlement import Booked, Settlement, SettlementFailed, unrecorded
from enrichment_assets.waterfall.single_flight import CrossProcessFlight, result_from_stored
from enrichment_assets.waterfall.stop_rule import meets_stop_rule
from enrichment_assets.waterfall.suppression import Suppression

logger = logging.getLogger("enrichment_assets.waterfall")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WaterfallEngine:
    """Runs one lead list through the configured providers. No Dagster, no DuckDB: clients, a store and a sink."""

    def __init__(
        self,
        config: EnrichmentConfig,
        client_factory: Callable[[str, Any], Any | None],
        store: StateStore,
        *,
        run_id: str,
        list_id: str,
        call_providers: Iterable[str] | None = None,
        suppression: Suppression | None = None,
        now: Callable[[], datetime] = _utcnow,
        progress: Callable[[WaterfallStats, int], None] | None = None,
        progress_every_seconds: float = 5.0,
        max_leads_in_flight: int | None = None,
        order_for: Callable[[Lead], Sequence[str]] | None = None,
        lease_seconds: float | None = None,
        unkeyed_client: Callable[[str], Any] | None = None,
    ) -> None:
        """``order_for(lead)``: the providers to walk that lead through, in order (the cost model's adaptive order);
        default: ``config.active_order`` for every lead. Providers the run can neither call nor skip are dropped
        from it.

        ``client_factory(provider, journal)`` returns ``None`` for a provider it cannot call (live mode without a
        key). With ``unkeyed_client(provider)`` (a client that is never opened, used for eligibility and request
        identity only), such a provider still answers from the store, and a lead it could have taken gets a
        ``skipped_no_key`` row (pending: a rerun with the key finishes it) instead of no row at all."""
        self.config = config
        self.store = store
        self.io = StoreIO(store)
        self.run_id = run_id
        self.list_id = list_id
        self.suppression = suppression or Suppression()
        self._now = now
        self._progress = progress
        self._progress_every = progress_every_seconds
        self.stats = WaterfallStats()
        self.lease = LeaseKeeper(store, run_id, lease_seconds)
        books = RunBooks(io=self.io, run_id=run_id, list_id=list_id, owner_id=self.lease.owner_id, config=config,
                         stats=self.stats)
        self._fp_records: dict[tuple[str, str], list[str]] = {}
        self._journal = StoreJournal(books, lambda provider, fp: self._fp_records.get((provider, fp), []),
                                     self.worst_case)
        # Providers in waterfall order that have a client; the others are skipped (live mode without a key).
        built = {p: client_factory(p, self._journal) for p in config.active_order}
        self.clients = {p: c for p, c in built.items() if c is not None}
        self.skipped_providers = [p for p, c in built.items() if c is None]
        self.order = list(self.clients)
        self._order_for = order_for
        # The most each vendor has ever reported for one call: reservations are never below it.
        self._reported: dict[str, float | None] = {
            p: store.reported_cost(p, c.endpoint) for p, c in self.clients.items()}
        self._settlement = Settlement(
            books, now, self.worst_case,
            {p: bool(getattr(c, "repeats_billed_once", False)) for p, c in self.clients.items()},
            {p: int(getattr(c, "parser_version", 1)) for p, c in self.clients.items()})
        self._unkeyed = {p: unkeyed_client(p) for p in self.skipped_providers} if unkeyed_client else {}
        #: The providers a lead walks past: those with a client, and those skipped for want of a key.
        self.walk_order = [p for p in config.active_order if p in self.clients or p in self._unkeyed]
        # Providers we may call; the rest answer only from the store (asset subsetting).
        self.call_providers = set(call_providers) if call_providers is not None else set(self.walk_order)
        self.budgets = {p: Budget(config.provider(p).max_credits_per_run) for p in self.order}
        self.stats.providers.update({p: ProviderStats() for p in self.walk_order})
        self._ttl = timedelta(days=config.cache_ttl_days)
        # Requests are claimed in the state store before they are sent: one process asks, the others wait.
        self._flight = CrossProcessFlight(self.io, lambda: self.lease.owner_id, self._ttl, now)
        self._inflight: dict[tuple[str, str], asyncio.Future[tuple[VendorResult, bool]]] = {}
        # Providers whose lookups go out in batches (created per run: the batchers live on its event loop).
        self._batchers: dict[str, Batcher] = {}
        self._done = 0
        concurrency = sum(config.provider(p).max_concurrency for p in self.order) or 1
        self._max_in_flight = max_leads_in_flight or max(256, concurrency * 8)

    def worst_case(self, provider: str, identifiers: int = 1) -> float:
        """The most one request for ``identifiers`` lookups may cost: the price rule's worst case, or the most
        the vendor ever reported for a call when that is more."""
        return worst_case_credits(provider, self.config.provider(provider), identifiers, self._reported.get(provider))

    def _reservation(self, provider: str) -> float:
        """What one lookup reserves: its worst case, once per attempt that could be billed (a vendor that bills
        repeats, with ``retry_unknown: now``, may bill each attempt of the lookup)."""
        client = self.clients[provider]
        policy = getattr(client, "retry_policy", None)
        attempts = 1
        if (policy is not None and policy.retry_unknown is RetryUnknown.NOW
                and not getattr(client, "repeats_billed_once", False)):
            attempts += policy.max_retries
        return self.worst_case(provider) * attempts

    # ------------------------------------------------------------------ public

    async def run(self, leads: Iterable[Lead], sink: ResultSink) -> WaterfallStats:
        """Hold the lease, open every client, walk all leads through the providers, close the clients."""
        await asyncio.to_thread(self.lease.__enter__)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for client in self.clients.values():
                    await stack.enter_async_context(client)
                return await self._run(leads, sink)
        finally:
            self.io.close()
            await asyncio.to_thread(self.lease.__exit__, None, None, None)

    async def _run(self, leads: Iterable[Lead], sink: ResultSink) -> WaterfallStats:
        started = time.monotonic()
        self._batchers = {
            provider: Batcher(client, partial(self._settlement.settle_batch, provider))
            for provider, client in self.clients.items()
            if provider in self.call_providers and supports_batching(client)
        }
        gate = asyncio.Semaphore(self._max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        last_report = time.monotonic()

        async def one(lead: Lead) -> None:
            reached: set[str] = set()
            try:
                await self._process(lead, sink, reached)
            finally:
                for provider, batcher in self._batchers.items():
                    if provider not in reached:
                        batcher.lead_ended_before()
                gate.release()
                self._done += 1

        for lead in leads:
            await gate.acquire()
            self.stats.leads += 1
            for batcher in self._batchers.values():
                batcher.expect_lead()
            task = asyncio.create_task(one(lead))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if self._progress and time.monotonic() - last_report >= self._progress_every:
                self._progress(self.stats, self._done)
                last_report = time.monotonic()
        for batcher in self._batchers.values():
            batcher.no_more_leads()
        while tasks:
            done, _ = await asyncio.wait(set(tasks), timeout=self._progress_every)
            for task in done:
                task.result()  # surface bugs instead of losing them
            if self._progress:
                self._progress(self.stats, self._done)
        self.stats.wall_seconds = time.monotonic() - started
        return self.stats

    # ------------------------------------------------------------------ one lead

    async def _process(self, lead: Lead, sink: ResultSink, reached: set[str]) -> None:
        """Walk one lead; ``reached`` collects the batching providers it got to (the others learn it ended)."""
        if self.suppression.matches(lead):
            self.stats.suppressed += 1
            return
        hints = region_hints(lead.country, lead.domain)
        order = self.walk_order if self._order_for is None else [p for p in self._order_for(lead)
                                                                 if p in self.clients or p in self._unkeyed]
        for position, provider in enumerate(order):
            batcher = self._batchers.get(provider)
            if batcher is not None:
                reached.add(provider)
                batcher.lead_at_door()
                joined: set[str] = set()
                try:
                    row = await self._ask(provider, lead, joined)
                finally:
                    if provider not in joined:  # ineligible, cached, shared, over budget: it did not join a batch
                        batcher.lead_arrived()
                        batcher.flush_if_nothing_more_coming()
            else:
                row = await self._ask(provider, lead)
            if row is None:
                continue  # not called and not cached (subset run): this provider is not part of this run
            row.walk_order = order
            sink.add(row)
            stats = self.stats.providers[provider]
            stats.leads += 1
            claims = [PhoneClaim(n, t) for n, t in zip(row.phones, row.claimed_types, strict=True)]
            if row.outcome is RowOutcome.FOUND:
                stats.found += 1
                if meets_stop_rule("mobile", claims, hints):
                    stats.mobiles += 1
            if meets_stop_rule(self.config.waterfall.stop_when, claims, hints):
                if position < len(order) - 1:
                    self.stats.stopped_early += 1
                return

    async def _ask(self, provider: str, lead: Lead, joined: set[str] | None = None) -> ProviderRow | None:
        """The lead's row at one provider; ``joined`` gets the provider's name when the lead joined a batch."""
        client = self.clients.get(provider) or self._unkeyed[provider]
        stats = self.stats.providers[provider]
        base = {"list_id": lead.list_id, "record_id": lead.record_id, "provider": provider}
        reason = client.ineligible_reason(lead)
        if reason is not None:
            stats.ineligible += 1
            return ProviderRow(**base, request_fingerprint=None, outcome=RowOutcome.INELIGIBLE, phones=[],
                               claimed_types=[], credits=0.0, called_at=None, from_cache=False, error=reason)
        fp = request_fingerprint(provider, client.endpoint, client.request_identity(lead))
        cached = await self.io.read(self.store.fresh_response, fp, self._ttl, self._now())
        if cached is None:
            cached = await self._answer_to_older_fingerprint(client, lead, fp)
        if cached is not None:
            stats.cache_hits += 1
            return row_from_stored(base, fp, cached)
        if provider not in self.call_providers:
            return None
        if provider in self._unkeyed:
            stats.skipped_no_key += 1
            return ProviderRow(**base, request_fingerprint=fp, outcome=RowOutcome.SKIPPED_NO_KEY, phones=[],
                               claimed_types=[], credits=0.0, called_at=None, from_cache=False,
                               error="not asked: no API key for this provider in this run")
        key = (provider, fp)
        shared = self._inflight.get(key)
        if shared is not None:
            self._fp_records[key].append(lead.record_id)
            result, from_store = await asyncio.shield(shared)
            stats.shared += 1
            return self._row_from_result(base, fp, result, credits=0.0, from_cache=from_store or bool(result.attempts))
        future: asyncio.Future[tuple[VendorResult, bool]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self._fp_records[key] = [lead.record_id]
        try:
            result, booked, from_store = await self._flight.claimed(
                provider, fp, partial(self._call, provider, client, lead, fp, joined), Booked())
            future.set_result((result, from_store))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved; sharers re-raise it themselves
            raise
        finally:
            del self._inflight[key]
            self._fp_records.pop(key, None)
        if from_store:
            stats.cache_hits += 1
        return self._row_from_result(base, fp, result, credits=booked.credits, from_cache=from_store)

    async def _answer_to_older_fingerprint(self, client: Any, lead: Lead, fp: str) -> StoredResponse | None:
        """A fresh answer stored under the fingerprint an older version of the client gave this question (before
        its identity was normalized): copied under today's fingerprint, so it is never bought again."""
        older = getattr(client, "legacy_fingerprints", None)
        for old_fp in older(lead) if older is not None else ():
            if old_fp == fp:
                continue
            stored = await self.io.read(self.store.fresh_response, old_fp, self._ttl, self._now())
            if stored is not None:
                await self.io.write(self.store.copy_response, old_fp, fp)
                return stored
        return None

    async def _read_kept(self, provider: str, client: Any, fp: str) -> VendorResult | None:
        """A paid answer kept as it arrived and not read yet, read with today's parser: the lookup's result
        when it answers the question or still cannot be read (the lead stays pending); ``None`` otherwise."""
        reread = getattr(client, "reread", None)
        if reread is None:
            return None
        for kept in await self.io.read(self.store.kept_answers, fp):
            results = reread(kept.answer, kept.request_fingerprints)
            if results is None or fp not in kept.request_fingerprints:
                continue  # not JSON: nothing in it to read, the question is asked again
            result = results[kept.request_fingerprints.index(fp)]
            if result.unread:
                return result
            if result.status.answered:
                try:
                    await self._settlement.settle_kept(provider, kept, results)
                except SettlementFailed as exc:
                    return unrecorded(result, exc)
                return result
        return None

    async def _call(self, provider: str, client: Any, lead: Lead, fp: str, joined: set[str] | None = None
                    ) -> tuple[VendorResult, Booked, bool]:
        """The lookup's result, what it cost this run, and whether it came from the store (a kept answer)."""
        kept = await self._read_kept(provider, client, fp)
        if kept is not None:
            return kept, Booked(), True
        # Last look, under the claim and after the kept answers: an answer stored since the first isn't bought again.
        stored = await self.io.read(self.store.fresh_response, fp, self._ttl, self._now())
        if stored is not None:
            self._flight.answered_at[fp] = stored.received_at
            return result_from_stored(provider, stored), Booked(), True
        budget = self.budgets[provider]
        hold = f"{provider}:{fp}"
        if not await budget.reserve(hold, self._reservation(provider)):
            return VendorResult(provider=provider, status=CallStatus.SKIPPED_BUDGET), Booked(), False
        batcher = self._batchers.get(provider)
        if batcher is not None:
            # The lead stops counting as "may still join" only now: a batch is not flushed half empty while
            # leads that reached this provider are still reading the store.
            if joined is not None:
                joined.add(provider)
            batcher.lead_arrived()
        try:
            result = await (batcher.submit(lead, fp) if batcher is not None else client.lookup(lead))
        except BaseException:
            budget.release(hold)
            raise
        try:
            booked = await self._settlement.settle(provider, fp, result, batched=batcher is not None)
        except SettlementFailed as exc:
            logger.error("%s: %s", provider, exc)
            result, booked = unrecorded(result, exc), Booked(0.0, self.worst_case(provider))
        # An unknown request keeps its reservation as spent (its worst case): the vendor may have billed it.
        budget.settle(hold, booked.at_most)
        self._note_reported_cost(provider, result)
        return result, booked, False

    def _note_reported_cost(self, provider: str, result: VendorResult) -> None:
        """A vendor reporting more for one call than this run reserves: reserve that much from now on."""
        reported = [a.vendor_credits for a in result.attempts if a.vendor_credits is not None]
        if not reported:
            return
        highest = max(reported)
        if highest > self.worst_case(provider) + 1e-9:
            logger.warning("%s reported %g credits for one call, more than its price rule's worst case (%g): "
                           "budgets reserve %g per call from now on; check its pricing in enrichment.yaml",
                           provider, highest, self.worst_case(provider), highest)
            self._reported[provider] = highest

    def _row_from_result(self, base: dict[str, Any], fp: str, result: VendorResult, *, credits: float,
                         from_cache: bool) -> ProviderRow:
        outcome = result.status.row_outcome
        if outcome is RowOutcome.SKIPPED_BUDGET:
            self.stats.providers[result.provider].skipped_budget += 1
        called_at = result.attempts[-1].sent_at if result.attempts else self._flight.answered_at.get(fp)
        error = result.error if outcome not in (RowOutcome.FOUND, RowOutcome.NOT_FOUND, RowOutcome.SKIPPED_BUDGET) \
            else None
        if result.status is CallStatus.OUT_OF_CREDITS:
            error = f"out of credits: {result.error}" if result.error else "out of credits"
        return ProviderRow(**base, request_fingerprint=fp, outcome=outcome, phones=[p.number for p in result.phones],
                           claimed_types=[p.claimed_type for p in result.phones], credits=credits,
                           called_at=called_at, from_cache=from_cache, http_status=result.http_status, error=error)

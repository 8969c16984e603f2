"""The pipelined waterfall: every lead walks the providers in order on its own.

Many leads are in flight at once; each vendor client holds its own rate limit
and concurrency cap, so a lead that missed at provider 1 is already at
provider 2 while others still queue for provider 1, and wall time tends to
``max over providers (calls / rate limit)`` rather than the sum.

For each lead and provider, in order:

1. suppressed leads go nowhere (status ``suppressed``);
2. a lead lacking what the vendor needs is ``ineligible`` (no call);
3. a stored response younger than ``cache_ttl_days`` answers the request
   (``from_cache``: no call, no ledger row);
4. an identical request already in flight is shared, not sent twice;
5. the worst-case cost is reserved against ``max_credits_per_run``; if it
   does not fit, the lead is ``skipped_budget`` there;
6. otherwise the vendor is called (Crustdata in batches); the response and
   the ledger entry are stored durably before the lead moves on.

The lead stops at the first provider whose numbers meet ``stop_when``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import CallStatus, LedgerOutcome, RowOutcome
from enrichment_assets.phones.parse import parse_phone, region_hints
from enrichment_assets.storage.response_store import AttemptRow, ResponseStore, StoredResponse
from enrichment_assets.vendors.base import Attempt, PhoneClaim, VendorResult, request_fingerprint
from enrichment_assets.waterfall.pricing import Budget, LookupCharge, rule_credits, worst_case_credits
from enrichment_assets.waterfall.suppression import Suppression

log = logging.getLogger("enrichment_assets.waterfall")


class VendorClient(Protocol):
    name: str
    endpoint: str

    def ineligible_reason(self, lead: Lead) -> str | None: ...

    def request_identity(self, lead: Lead) -> dict[str, Any]: ...


@dataclass(slots=True)
class ProviderRow:
    """One lead at one provider: a row of ``<provider>_results``."""

    list_id: str
    record_id: str
    provider: str
    request_fingerprint: str | None
    outcome: RowOutcome
    phones: list[str]
    claimed_types: list[str | None]
    credits: float
    called_at: datetime | None
    from_cache: bool
    http_status: int | None = None
    error: str | None = None


class ResultSink(Protocol):
    def add(self, row: ProviderRow) -> None: ...


@dataclass
class ProviderStats:
    leads: int = 0
    calls: int = 0
    cache_hits: int = 0
    shared: int = 0
    found: int = 0
    mobiles: int = 0
    ineligible: int = 0
    skipped_budget: int = 0
    unavailable: int = 0
    errors: int = 0
    credits: float = 0.0
    usd: float = 0.0
    rate_limited: int = 0


@dataclass
class WaterfallStats:
    leads: int = 0
    suppressed: int = 0
    stopped_early: int = 0
    providers: dict[str, ProviderStats] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.providers.values())

    @property
    def credits(self) -> float:
        return sum(p.credits for p in self.providers.values())


def meets_stop_rule(stop_when: str, phones: list[PhoneClaim], hints: tuple[str, ...]) -> bool:
    """Whether numbers from one provider are good enough to stop the waterfall for this lead."""
    if stop_when == "never" or not phones:
        return False
    for claim in phones:
        parsed = parse_phone(claim.number, hints)
        if not parsed.valid:
            continue
        if stop_when == "any_phone":
            return True
        claimed_mobile = (claim.claimed_type or "").lower() in ("mobile", "cell", "cellular", "wireless")
        if parsed.number_type == "mobile" or (claimed_mobile and parsed.number_type != "fixed_line"):
            return True
    return False


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _StoreJournal:
    """Writes each attempt to the store before it is sent (the crash-safety half of the ledger)."""

    def __init__(self, engine: WaterfallEngine) -> None:
        self._engine = engine

    def sent(self, attempt: Attempt) -> None:
        engine = self._engine
        record_ids: list[str] = []
        for fp in attempt.request_fingerprints:
            record_ids.extend(engine._fp_records.get((attempt.provider, fp), []))
        engine.store.record_sent(AttemptRow(
            attempt_id=attempt.attempt_id, run_id=engine.run_id, list_id=engine.list_id, provider=attempt.provider,
            endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints),
            record_ids=sorted(set(record_ids)), sent_at=attempt.sent_at, finished_at=None, http_status=None,
            outcome=None, credits=None, credit_basis=None, usd=None,
            worst_case_credits=worst_case_credits(attempt.provider, engine.config.provider(attempt.provider),
                                                  max(1, len(attempt.request_fingerprints))),
            error=None,
        ))
        engine.stats.providers[attempt.provider].calls += 1

    def finished(self, attempt: Attempt) -> None:
        if attempt.outcome is LedgerOutcome.RATE_LIMITED:
            self._engine.stats.providers[attempt.provider].rate_limited += 1
        if attempt.outcome is None:
            return  # an answer: settled with its response, in one transaction, by the engine
        # Failed attempts cost nothing; record them now so a crash later does not leave them "unknown".
        self._engine.store.record_outcome([_attempt_row(self._engine, attempt, attempt.outcome, 0.0,
                                                        "price_rule")], [])


def _attempt_row(engine: WaterfallEngine, attempt: Attempt, outcome: LedgerOutcome, credits: float,
                 basis: str) -> AttemptRow:
    usd = credits * engine.config.provider(attempt.provider).usd_per_credit
    return AttemptRow(
        attempt_id=attempt.attempt_id, run_id=engine.run_id, list_id=engine.list_id, provider=attempt.provider,
        endpoint=attempt.endpoint, request_fingerprints=list(attempt.request_fingerprints), record_ids=[],
        sent_at=attempt.sent_at, finished_at=attempt.finished_at or _utcnow(), http_status=attempt.http_status,
        outcome=outcome, credits=credits, credit_basis=basis, usd=usd, worst_case_credits=None, error=attempt.error,
    )


class _CrustdataBatcher:
    """Gathers Crustdata lookups into batches without holding up the other providers.

    One queue per identifier kind (LinkedIn URLs, business emails): a request never mixes the two, so a
    mixed batch would go out as two half-empty requests.
    """

    def __init__(self, engine: WaterfallEngine, client: Any, batch_size: int, wait_seconds: float) -> None:
        self._engine = engine
        self._client = client
        self._size = batch_size
        self._wait = wait_seconds
        self._pending: dict[str, list[tuple[Lead, str, asyncio.Future[VendorResult]]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _kind(self, lead: Lead) -> str:
        identifier = getattr(self._client, "identifier", None)
        found = identifier(lead) if identifier is not None else None
        return found[0] if found else ""

    def submit(self, lead: Lead, fp: str) -> asyncio.Future[VendorResult]:
        future: asyncio.Future[VendorResult] = asyncio.get_running_loop().create_future()
        kind = self._kind(lead)
        queue = self._pending.setdefault(kind, [])
        queue.append((lead, fp, future))
        if len(queue) >= self._size:
            self._flush(kind)
        elif kind not in self._timers:
            self._timers[kind] = asyncio.get_running_loop().call_later(self._wait, self._flush, kind)
        self.nothing_more_coming(self._engine.may_still_reach_batcher())
        return future

    def nothing_more_coming(self, more_may_come: bool) -> None:
        """Send partial batches at once when no lead still in flight can join them.

        Crustdata allows few requests a minute, so a half-empty batch wastes one of them: partial batches
        wait up to `batch_wait_seconds` for company, unless waiting cannot fill them.
        """
        if not more_may_come:
            for kind in [k for k, queue in self._pending.items() if queue]:
                self._flush(kind)

    def _flush(self, kind: str) -> None:
        timer = self._timers.pop(kind, None)
        if timer is not None:
            timer.cancel()
        queue = self._pending.get(kind, [])
        batch, rest = queue[: self._size], queue[self._size:]
        self._pending[kind] = rest
        if rest:
            self._timers[kind] = asyncio.get_running_loop().call_later(self._wait, self._flush, kind)
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[Lead, str, asyncio.Future[VendorResult]]]) -> None:
        try:
            results = await self._client.lookup_batch([lead for lead, _, _ in batch])
        except Exception as exc:  # a client bug must not strand the leads waiting on this batch
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._engine.settle_batch([fp for _, fp, _ in batch], results)
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class WaterfallEngine:
    """Runs one lead list through the configured providers. No Dagster, no DuckDB: clients, a store and a sink."""

    def __init__(
        self,
        config: EnrichmentConfig,
        client_factory: Callable[[str, Any], Any | None],
        store: ResponseStore,
        *,
        run_id: str,
        list_id: str,
        call_providers: Iterable[str] | None = None,
        suppression: Suppression | None = None,
        now: Callable[[], datetime] = _utcnow,
        progress: Callable[[WaterfallStats, int], None] | None = None,
        progress_every_seconds: float = 5.0,
        max_leads_in_flight: int | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.run_id = run_id
        self.list_id = list_id
        self.suppression = suppression or Suppression()
        self._now = now
        self._progress = progress
        self._progress_every = progress_every_seconds
        self._journal = _StoreJournal(self)
        # Providers in waterfall order that have a client; the others are skipped (live mode without a key).
        built = {p: client_factory(p, self._journal) for p in config.active_order}
        self.clients = {p: c for p, c in built.items() if c is not None}
        self.skipped_providers = [p for p, c in built.items() if c is None]
        self.order = list(self.clients)
        # Providers we may call; the rest answer only from the store (asset subsetting).
        self.call_providers = set(call_providers) if call_providers is not None else set(self.order)
        self.budgets = {p: Budget(config.provider(p).max_credits_per_run) for p in self.order}
        self.stats = WaterfallStats(providers={p: ProviderStats() for p in self.order})
        self._ttl = timedelta(days=config.cache_ttl_days)
        self._inflight: dict[tuple[str, str], asyncio.Future[tuple[VendorResult, bool]]] = {}
        self._fp_records: dict[tuple[str, str], list[str]] = {}
        self._batcher: _CrustdataBatcher | None = None
        self._done = 0
        self._feeding = False
        self._before_batcher = 0  # leads in flight that have not yet reached Crustdata
        concurrency = sum(config.provider(p).max_concurrency for p in self.order) or 1
        self._max_in_flight = max_leads_in_flight or max(256, concurrency * 8)

    @property
    def journal(self) -> _StoreJournal:
        """Give this to the vendor clients: it records every request before it is sent."""
        return self._journal

    # ------------------------------------------------------------------ public

    async def run(self, leads: Iterable[Lead], sink: ResultSink) -> WaterfallStats:
        """Open every client, walk all leads through the providers, close the clients."""
        async with contextlib.AsyncExitStack() as stack:
            for client in self.clients.values():
                await stack.enter_async_context(client)
            return await self._run(leads, sink)

    async def _run(self, leads: Iterable[Lead], sink: ResultSink) -> WaterfallStats:
        started = time.monotonic()
        if "crustdata" in self.clients and "crustdata" in self.call_providers:
            cfg = self.config.provider("crustdata")
            self._batcher = _CrustdataBatcher(self, self.clients["crustdata"], cfg.batch_size or 25,
                                              cfg.batch_wait_seconds if cfg.batch_wait_seconds is not None else 5.0)
        gate = asyncio.Semaphore(self._max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        last_report = time.monotonic()

        async def one(lead: Lead) -> None:
            passed = [False]
            try:
                await self._process(lead, sink, passed)
            finally:
                if not passed[0]:
                    self._passed_batcher_point()
                gate.release()
                self._done += 1

        self._feeding = True
        for lead in leads:
            await gate.acquire()
            self.stats.leads += 1
            self._before_batcher += 1
            task = asyncio.create_task(one(lead))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if self._progress and time.monotonic() - last_report >= self._progress_every:
                self._progress(self.stats, self._done)
                last_report = time.monotonic()
        self._feeding = False
        if self._batcher is not None:
            self._batcher.nothing_more_coming(self.may_still_reach_batcher())
        while tasks:
            done, _ = await asyncio.wait(set(tasks), timeout=self._progress_every)
            for task in done:
                task.result()  # surface bugs instead of losing them
            if self._progress:
                self._progress(self.stats, self._done)
        self.stats.wall_seconds = time.monotonic() - started
        return self.stats

    # ------------------------------------------------------------------ one lead

    def may_still_reach_batcher(self) -> bool:
        return self._feeding or self._before_batcher > 0

    def _passed_batcher_point(self) -> None:
        self._before_batcher -= 1
        if self._batcher is not None:
            self._batcher.nothing_more_coming(self.may_still_reach_batcher())

    async def _process(self, lead: Lead, sink: ResultSink, passed: list[bool]) -> None:
        if self.suppression.matches(lead):
            self.stats.suppressed += 1
            return
        hints = region_hints(lead.country, lead.domain)
        for position, provider in enumerate(self.order):
            if provider == "crustdata" and not passed[0]:
                passed[0] = True
                self._before_batcher -= 1  # submit() decides on flushing once this lead has joined the batch
                row = await self._ask(provider, lead)
                if self._batcher is not None:  # the lead may not have joined (ineligible, cached, over budget)
                    self._batcher.nothing_more_coming(self.may_still_reach_batcher())
            else:
                row = await self._ask(provider, lead)
            if row is None:
                continue  # not called and not cached (subset run): this provider is not part of this run
            sink.add(row)
            stats = self.stats.providers[provider]
            stats.leads += 1
            claims = [PhoneClaim(n, t) for n, t in zip(row.phones, row.claimed_types, strict=True)]
            if row.outcome is RowOutcome.FOUND:
                stats.found += 1
                if meets_stop_rule("mobile", claims, hints):
                    stats.mobiles += 1
            if meets_stop_rule(self.config.waterfall.stop_when, claims, hints):
                if position < len(self.order) - 1:
                    self.stats.stopped_early += 1
                return

    async def _ask(self, provider: str, lead: Lead) -> ProviderRow | None:
        client = self.clients[provider]
        stats = self.stats.providers[provider]
        base = dict(list_id=lead.list_id, record_id=lead.record_id, provider=provider)
        reason = client.ineligible_reason(lead)
        if reason is not None:
            stats.ineligible += 1
            return ProviderRow(**base, request_fingerprint=None, outcome=RowOutcome.INELIGIBLE, phones=[], claimed_types=[],
                               credits=0.0, called_at=None, from_cache=False, error=reason)
        fp = request_fingerprint(provider, client.endpoint, client.request_identity(lead))
        cached = self.store.fresh_response(fp, self._ttl, self._now())
        if cached is not None:
            stats.cache_hits += 1
            return self._row_from_stored(base, fp, cached)
        if provider not in self.call_providers:
            return None
        key = (provider, fp)
        shared = self._inflight.get(key)
        if shared is not None:
            self._fp_records[key].append(lead.record_id)
            result, _ = await asyncio.shield(shared)
            stats.shared += 1
            return self._row_from_result(base, fp, result, credits=0.0, from_cache=bool(result.attempts))
        future: asyncio.Future[tuple[VendorResult, bool]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self._fp_records[key] = [lead.record_id]
        try:
            result, credits = await self._call(provider, client, lead, fp)
            future.set_result((result, True))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved; sharers re-raise it themselves
            raise
        finally:
            del self._inflight[key]
            self._fp_records.pop(key, None)
        return self._row_from_result(base, fp, result, credits=credits, from_cache=False)

    async def _call(self, provider: str, client: Any, lead: Lead, fp: str) -> tuple[VendorResult, float]:
        config = self.config.provider(provider)
        budget = self.budgets[provider]
        hold = f"{provider}:{fp}"
        if not await budget.reserve(hold, worst_case_credits(provider, config)):
            return VendorResult(provider=provider, status=CallStatus.SKIPPED_BUDGET), 0.0
        try:
            if provider == "crustdata" and self._batcher is not None:
                result = await self._batcher.submit(lead, fp)
            else:
                result = await client.lookup(lead)
        except BaseException:
            budget.release(hold)
            raise
        credits = self._settle(provider, fp, result)
        budget.settle(hold, credits)
        return result, credits

    # ------------------------------------------------------------------ settling a response

    def _settle(self, provider: str, fp: str, result: VendorResult) -> float:
        """Store the response and its ledger entries durably; return the credits attributed to this lookup."""
        config = self.config.provider(provider)
        stats = self.stats.providers[provider]
        final = result.attempts[-1] if result.attempts else None
        # A definitive "not found" may come as an HTTP error (Enrich Layer's 404): it is an answer all the same,
        # stored so that a rerun does not ask again.
        answered = result.status.answered
        if final is None or final.http_status is None or not (200 <= final.http_status < 300 or answered):
            if result.status is CallStatus.ERROR:
                stats.errors += 1
            elif result.status.stops_provider:
                stats.unavailable += 1
            return 0.0
        paid = result.status.answered
        if not paid:
            stats.errors += 1
        if provider == "crustdata":  # the batcher settled the whole batch; this is this lookup's share
            return rule_credits(config, [LookupCharge(numbers=len(result.phones), matched=result.matched)]) \
                if paid else 0.0
        if final.vendor_credits is not None:
            credits, basis = float(final.vendor_credits), "vendor_reported"
        elif paid:
            charge = LookupCharge(numbers=len(result.phones), emails=result.emails_found,
                                  personal_emails=result.personal_emails_found)
            credits, basis = rule_credits(config, [charge]), "price_rule"
        else:
            credits, basis = 0.0, "price_rule"
        outcome = result.status.ledger_outcome
        responses = [self._stored(fp, result)] if paid else []
        self.store.record_outcome([_attempt_row(self, final, outcome, credits, basis)], responses)
        stats.credits += credits
        stats.usd += credits * config.usd_per_credit
        return credits

    def settle_batch(self, fps: list[str], results: list[VendorResult]) -> None:
        """Store a whole Crustdata batch (its responses and ledger entries) in one transaction.

        The client may split one batch into several HTTP requests (identifier kinds are never mixed), so
        each request is settled with its own identifiers and charge.
        """
        config = self.config.provider("crustdata")
        stats = self.stats.providers["crustdata"]
        requests: dict[str, tuple[Attempt, list[tuple[str, VendorResult]]]] = {}
        for fp, result in zip(fps, results, strict=True):
            if result.attempts:
                final = result.attempts[-1]
                requests.setdefault(final.attempt_id, (final, []))[1].append((fp, result))
        attempt_rows: list[AttemptRow] = []
        responses: list[StoredResponse] = []
        for final, members in requests.values():
            if final.http_status is None or not 200 <= final.http_status < 300:
                continue  # failed attempts were recorded by the journal; nothing was charged
            # An identifier repeated in a request is sent and charged once.
            unique = {fp: r for fp, r in members if r.status.answered}
            if final.vendor_credits is not None:
                credits, basis = float(final.vendor_credits), "vendor_reported"
            else:
                credits = rule_credits(config, [LookupCharge(numbers=len(r.phones), matched=r.matched)
                                                for r in unique.values()])
                basis = "price_rule"
            if any(r.status is CallStatus.FOUND for r in unique.values()):
                outcome = LedgerOutcome.FOUND
            elif unique:
                outcome = LedgerOutcome.NOT_FOUND
            else:
                outcome = LedgerOutcome.ERROR
            attempt_rows.append(_attempt_row(self, final, outcome, credits, basis))
            responses.extend(self._stored(fp, r) for fp, r in unique.items())
            stats.credits += credits
            stats.usd += credits * config.usd_per_credit
        if attempt_rows:
            self.store.record_outcome(attempt_rows, responses)

    def _stored(self, fp: str, result: VendorResult) -> StoredResponse:
        return StoredResponse(
            request_fingerprint=fp, provider=result.provider, status=result.status.value,
            phones=[(p.number, p.claimed_type) for p in result.phones], raw=result.raw,
            http_status=result.http_status, vendor_credits=result.vendor_credits, matched=result.matched,
            received_at=self._now(),
        )

    def _row_from_stored(self, base: dict[str, Any], fp: str, stored: StoredResponse) -> ProviderRow:
        return ProviderRow(**base, request_fingerprint=fp, outcome=RowOutcome(stored.status),
                           phones=[n for n, _ in stored.phones], claimed_types=[t for _, t in stored.phones],
                           credits=0.0, called_at=stored.received_at, from_cache=True, http_status=stored.http_status)

    def _row_from_result(self, base: dict[str, Any], fp: str, result: VendorResult, *, credits: float,
                         from_cache: bool) -> ProviderRow:
        outcome = result.status.row_outcome
        if outcome is RowOutcome.SKIPPED_BUDGET:
            self.stats.providers[result.provider].skipped_budget += 1
        called_at = result.attempts[-1].sent_at if result.attempts else None
        error = result.error if outcome not in (RowOutcome.FOUND, RowOutcome.NOT_FOUND, RowOutcome.SKIPPED_BUDGET) \
            else None
        if result.status is CallStatus.OUT_OF_CREDITS:
            error = f"out of credits: {result.error}" if result.error else "out of credits"
        return ProviderRow(**base, request_fingerprint=fp, outcome=outcome,
                           phones=[p.number for p in result.phones], claimed_types=[p.claimed_type for p in result.phones],
                           credits=credits, called_at=called_at, from_cache=from_cache, http_status=result.http_status,
                           error=error)

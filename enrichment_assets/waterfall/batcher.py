"""Gathering a batching provider's lookups into batches, without holding up the other providers.

One queue per batch key (Crustdata: LinkedIn URLs and business emails never share a request, so a mixed
batch would go out as two half-empty requests). A queue goes out when it is full, when its oldest lead has
waited ``batch_wait_seconds``, or at once when no lead still in flight can join it: such a provider allows
few requests a minute, so a half-empty batch wastes one of them unless waiting cannot fill it.

The batcher knows which leads may still come from the engine's three signals: a lead started its walk
(``expect_lead``), reached this provider (``lead_arrived``) or ended its walk before it (``lead_ended_before``),
and no lead is left to start (``no_more_leads``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import VendorResult
from enrichment_assets.vendors.batching import BatchingClient
from enrichment_assets.waterfall.settlement import unrecorded

logger = logging.getLogger("enrichment_assets.waterfall")

#: Stores a sent batch's answers and ledger rows: ``(request fingerprints, results)``, aligned with its leads.
SettleBatch = Callable[[list[str], list[VendorResult]], Awaitable[None]]

_Waiting = tuple[Lead, str, "asyncio.Future[VendorResult]"]


class Batcher:
    def __init__(self, client: BatchingClient, settle: SettleBatch) -> None:
        self._client = client
        self._settle = settle
        self._size = client.batch_size
        self._wait = client.batch_wait_seconds
        self._pending: dict[str, list[_Waiting]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._feeding = True
        self._upstream = 0  # leads in flight that have not yet reached this provider

    # ------------------------------------------------------------------ which leads may still come

    def expect_lead(self) -> None:
        self._upstream += 1

    def lead_arrived(self) -> None:
        """The lead is at this provider: ``submit`` (or the caller, when it does not join) decides on flushing."""
        self._upstream -= 1

    def lead_ended_before(self) -> None:
        self._upstream -= 1
        self.flush_if_nothing_more_coming()

    def no_more_leads(self) -> None:
        self._feeding = False
        self.flush_if_nothing_more_coming()

    def flush_if_nothing_more_coming(self) -> None:
        """Send partial batches at once when no lead still in flight can join them."""
        if self._feeding or self._upstream > 0:
            return
        for key in [k for k, queue in self._pending.items() if queue]:
            self._flush(key)

    # ------------------------------------------------------------------ batches

    def submit(self, lead: Lead, fp: str) -> asyncio.Future[VendorResult]:
        future: asyncio.Future[VendorResult] = asyncio.get_running_loop().create_future()
        key = self._client.batch_key(lead)
        queue = self._pending.setdefault(key, [])
        queue.append((lead, fp, future))
        if len(queue) >= self._size:
            self._flush(key)
        elif key not in self._timers:
            self._timers[key] = asyncio.get_running_loop().call_later(self._wait, self._flush, key)
        self.flush_if_nothing_more_coming()
        return future

    def _flush(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        queue = self._pending.get(key, [])
        batch, rest = queue[: self._size], queue[self._size:]
        self._pending[key] = rest
        if rest:
            self._timers[key] = asyncio.get_running_loop().call_later(self._wait, self._flush, key)
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            results = await self._client.lookup_batch([lead for lead, _, _ in batch])
        except Exception as exc:  # a client bug must not strand the leads waiting on this batch  # noqa: BLE001
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        try:
            await self._settle([fp for _, fp, _ in batch], results)
        except Exception as exc:  # noqa: BLE001 - the store refused the answers: the leads end, pending
            logger.error("%s: a batch answer could not be recorded: %s", self._client.name, exc)
            results = [unrecorded(result, exc) for result in results]
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


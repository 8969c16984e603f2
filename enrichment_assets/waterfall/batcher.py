"""Gathering a batching provider's lookups into batches, without holding up the other providers.

One queue per batch key (Crustdata: LinkedIn URLs and business emails never share a request, so a mixed
batch would go out as two half-empty requests). A queue goes out when it is full, when its oldest lead has
waited ``batch_wait_seconds``, or at once when no lead still in flight can join it: such a provider allows
few requests a minute, so a half-empty batch wastes one of them unless waiting cannot fill it.

The batcher knows which leads may still come from the engine's signals: a lead started its walk
(``expect_lead``), came to this provider's door (``lead_at_door``: it is reading the store and claiming its
request, ``waterfall/single_flight.py``), reached this provider (``lead_arrived``) or ended its walk before it
(``lead_ended_before``), and no lead is left to start (``no_more_leads``).

A queue whose wait is over while leads are still at the door waits for them (at most ``DOOR_WAIT_LIMIT``
seconds more): the claim is a durable store write, and on a busy disk it can take longer than the batch wait,
which would send a batch before the leads that are about to join it (each a request, and a credit, of its own).
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

#: The longest a due batch waits for leads still at the door (a claim stuck on a locked store must not hold
#: the batch's leads forever).
DOOR_WAIT_LIMIT = 5.0


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
        self._at_door = 0  # of which: at this provider, reading the store and claiming their request
        self._due: set[str] = set()  # queues whose wait is over, waiting for the leads at the door

    # ------------------------------------------------------------------ which leads may still come

    def expect_lead(self) -> None:
        self._upstream += 1

    def lead_at_door(self) -> None:
        """The lead came to this provider and is looking in the store and claiming its request."""
        self._at_door += 1

    def lead_arrived(self) -> None:
        """The lead is at this provider: ``submit`` (or the caller, when it does not join) decides on flushing."""
        self._upstream -= 1
        self._at_door -= 1

    def lead_ended_before(self) -> None:
        self._upstream -= 1
        self.flush_if_nothing_more_coming()

    def no_more_leads(self) -> None:
        self._feeding = False
        self.flush_if_nothing_more_coming()

    def flush_if_nothing_more_coming(self) -> None:
        """Send partial batches at once when no lead still in flight can join them."""
        if self._feeding or self._upstream > 0:
            self._flush_due()
            return
        for key in [k for k, queue in self._pending.items() if queue]:
            self._flush(key)

    def _flush_due(self) -> None:
        if self._at_door <= 0:
            for key in list(self._due):
                self._flush(key)

    def _wait_over(self, key: str) -> None:
        """The oldest lead of a queue has waited ``batch_wait_seconds``: send it, unless leads are at the door."""
        self._timers.pop(key, None)
        if self._at_door > 0 and key not in self._due:
            self._due.add(key)
            self._timers[key] = asyncio.get_running_loop().call_later(DOOR_WAIT_LIMIT, self._flush, key)
            return
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
            self._timers[key] = asyncio.get_running_loop().call_later(self._wait, self._wait_over, key)
        self.flush_if_nothing_more_coming()
        return future

    def _flush(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._due.discard(key)
        queue = self._pending.get(key, [])
        batch, rest = queue[: self._size], queue[self._size:]
        self._pending[key] = rest
        if rest:
            self._timers[key] = asyncio.get_running_loop().call_later(self._wait, self._wait_over, key)
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


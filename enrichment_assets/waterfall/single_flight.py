"""Single flight across processes: a request is claimed in the state store before it is sent.

Inside one process the engine already shares an identical request in flight (``engine._inflight``). Across
processes (two ``enrich run`` on overlapping lists, two Dagster runs, two machines on one PostgreSQL state
store) the claim does it (``storage/claims.py``): the first process to claim a fingerprint asks the vendor; the
others wait for the stored answer and pay nothing. When the claimant's request ends without an answer the
waiters learn it from the released claim: ``unknown`` (it may have been billed) leaves their leads pending,
as the claimant's own is, and sends nothing; ``not_sent`` (over its budget, an unbilled error) lets the next
waiter claim it and ask. A claimant that dies loses its claim with its lease; the next waiter takes it over.

Waiting is polling with a growing interval (``first_poll`` to ``max_poll``): the store is the only channel the
processes share, and PostgreSQL's LISTEN would not reach a SQLite store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from enrichment_assets.outcomes import CallStatus
from enrichment_assets.storage import claims
from enrichment_assets.storage.store_io import StoreIO
from enrichment_assets.storage.store_records import StoredResponse
from enrichment_assets.vendors.base import PhoneClaim, VendorResult

logger = logging.getLogger("enrichment_assets.waterfall")

Cost = TypeVar("Cost")

#: What a waiter gets when the claimant's request ended ``unknown``.
ASKED_ELSEWHERE_UNKNOWN = ("asked at the same time by another run, whose answer did not come (it may have been "
                           "billed): pending, a later run asks again")


def result_from_stored(provider: str, stored: StoredResponse) -> VendorResult:
    """A stored answer as the lookup's result (another process paid for it)."""
    return VendorResult(provider=provider, status=CallStatus(stored.status),
                        phones=[PhoneClaim(n, t) for n, t in stored.phones], vendor_credits=None,
                        matched=stored.matched, http_status=stored.http_status, raw=stored.raw)


def release_outcome(result: VendorResult | None) -> str:
    """How a claimant's lookup ended, for its waiters (``storage/claims.py``)."""
    if result is None:  # it raised: what was sent is not known
        return claims.UNKNOWN
    if result.status.answered and not result.unread:
        return claims.ANSWERED
    if result.status is CallStatus.UNKNOWN or result.unread:
        return claims.UNKNOWN
    return claims.NOT_SENT


class CrossProcessFlight:
    """Claims request fingerprints for one lease holder; waits for other holders' answers."""

    def __init__(self, io: StoreIO, owner_id: Callable[[], str], ttl: timedelta, now: Callable[[], datetime],
                 *, first_poll: float = 0.05, max_poll: float = 1.0) -> None:
        self._io = io
        self._owner_id = owner_id
        self._ttl = ttl
        self._now = now
        self._first_poll = first_poll
        self._max_poll = max_poll
        #: Lookups answered by waiting for another process's request, per provider.
        self.waited: dict[str, int] = {}
        #: When the answers another process paid for arrived (the results' ``called_at``), by fingerprint.
        self.answered_at: dict[str, datetime] = {}

    async def acquire(self, provider: str, fp: str) -> VendorResult | None:
        """``None`` once this process holds the claim; otherwise the answer another process got (or its ``unknown``
        outcome). The caller looks in the store once more before sending (``WaterfallEngine._call``, after the
        kept answers): an answer stored between its first look and the claim is not bought again."""
        store, owner = self._io.store, self._owner_id()
        held = await self._claim(fp, owner)
        delay = self._first_poll
        while held is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._max_poll)
            stored = await self._io.read(store.fresh_response, fp, self._ttl, self._now())
            if stored is not None:
                self.answered_at[fp] = stored.received_at
                return self._waited(provider, result_from_stored(provider, stored))
            current = await self._io.read(store.claim_of, fp)
            if current is not None and current.same_as(held) and current.released_at is not None \
                    and current.outcome == claims.UNKNOWN:
                return self._waited(provider, VendorResult(provider=provider, status=CallStatus.UNKNOWN,
                                                           error=ASKED_ELSEWHERE_UNKNOWN))
            if current is None or not current.held:
                held = await self._claim(fp, owner)
            elif not current.same_as(held):
                held = current
        return None

    async def claimed(self, provider: str, fp: str, call: Callable[[], Awaitable[tuple[VendorResult, Cost, bool]]],
                      free: Cost) -> tuple[VendorResult, Cost, bool]:
        """``call()`` (the lookup: its result, its cost, whether it came from the store) under the request's
        claim; when another process holds the claim, its answer (or its ``unknown`` outcome) at ``free`` cost."""
        elsewhere = await self.acquire(provider, fp)
        if elsewhere is not None:
            return elsewhere, free, True
        result: VendorResult | None = None
        try:
            result, cost, from_store = await call()
        finally:
            await self.release(fp, release_outcome(result))
        return result, cost, from_store

    async def _claim(self, fp: str, owner: str) -> claims.Claim | None:
        store = self._io.store
        if getattr(store, "claims_outside_groups", False):  # PostgreSQL: its own short transaction, any thread
            return await asyncio.to_thread(store.claim, fp, owner)
        return await self._io.write(store.claim, fp, owner)  # SQLite: inside the write lock, with the group

    async def release(self, fp: str, outcome: str) -> None:
        """Release the claim. A release the store refused is not the lookup's failure: the claim then ends with
        this process's lease, and waiters wait that long."""
        try:
            await self._io.write(self._io.store.release_claim, fp, self._owner_id(), outcome)
        except Exception:  # logged; the lease bounds the damage
            logger.warning("could not release the claim of a request (%s); it ends with this process's lease",
                           outcome, exc_info=True)

    def _waited(self, provider: str, result: VendorResult) -> VendorResult:
        self.waited[provider] = self.waited.get(provider, 0) + 1
        return result

"""Vendors that answer many leads in one request: what the waterfall needs from their client.

A client that supports batching (Crustdata: up to 25 identifiers per request, few requests a minute) is
not asked lead by lead: the waterfall gathers its leads into batches of ``batch_size`` that share a
``batch_key`` (a request never mixes keys), sends a partial batch after ``batch_wait_seconds`` or as soon
as no lead still in flight could join it, and hands each batch to ``lookup_batch``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import VendorResult


@runtime_checkable
class BatchingClient(Protocol):
    name: str
    #: The most leads one batch holds.
    batch_size: int
    #: How long a partial batch waits for company before it is sent anyway.
    batch_wait_seconds: float

    def batch_key(self, lead: Lead) -> str:
        """Leads with the same key may share a request."""
        ...

    async def lookup_batch(self, leads: list[Lead]) -> list[VendorResult]:
        """One result per lead, in order; never raises for what the vendor does."""
        ...


def supports_batching(client: object) -> bool:
    return isinstance(client, BatchingClient)

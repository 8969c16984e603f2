"""A process's lease in the state store: "I am alive and my requests are in flight", renewed by a heartbeat.

Every process that sends vendor requests (``enrich run``, a run launched by ``dagster dev`` or the daemon, a
step subprocess) holds one lease while its waterfall runs; each journal attempt names it (``owner_id``). An
attempt without an answer whose owner's lease is no longer alive (expired: the process died without releasing
it; or released: the process ended) is ``unknown`` in the ledger, whatever Dagster thinks of the run.

The lease is a small, backend-neutral part of the store's interface (``acquire_lease``, ``renew_lease``,
``release_lease``, ``live_owners``): cross-process claims of a request fingerprint build on it.

``ENRICHMENT_LEASE_SECONDS`` (default 60) is how long a lease lives without a heartbeat; it is renewed every
quarter of that from a thread of its own, so a busy event loop never lets it lapse.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from enrichment_assets.storage.store_records import Lease

if TYPE_CHECKING:
    from enrichment_assets.storage.state_store import StateStore

logger = logging.getLogger("enrichment_assets.storage")

DEFAULT_LEASE_SECONDS = 60.0


def lease_seconds() -> float:
    """``ENRICHMENT_LEASE_SECONDS``: how long a process that stopped renewing its lease still counts as alive."""
    value = os.environ.get("ENRICHMENT_LEASE_SECONDS", "").strip()
    if not value:
        return DEFAULT_LEASE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"ENRICHMENT_LEASE_SECONDS must be a number of seconds, not {value!r}") from None
    if seconds < 1:
        raise ValueError("ENRICHMENT_LEASE_SECONDS must be at least 1")
    return seconds


class LeaseKeeper:
    """Holds a lease while the block runs: acquired on entry, renewed by a heartbeat thread, released on exit."""

    def __init__(self, store: StateStore, run_id: str | None, ttl_seconds: float | None = None) -> None:
        self._store = store
        self.ttl = timedelta(seconds=ttl_seconds if ttl_seconds is not None else lease_seconds())
        self.lease = Lease(owner_id=uuid.uuid4().hex, run_id=run_id, pid=os.getpid(), host=socket.gethostname(),
                           expires_at=datetime.now(UTC) + self.ttl)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def owner_id(self) -> str:
        return self.lease.owner_id

    def __enter__(self) -> LeaseKeeper:
        self._store.acquire_lease(self.lease)
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.owner_id[:8]}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._store.release_lease(self.owner_id)

    def _heartbeat(self) -> None:
        interval = self.ttl.total_seconds() / 4
        while not self._stop.wait(interval):
            try:
                self._store.renew_lease(self.owner_id, datetime.now(UTC) + self.ttl)
            except Exception:
                logger.warning("could not renew the lease of this process; retrying", exc_info=True)

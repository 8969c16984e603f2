"""The waterfall's door to the response store: SQLite off the event loop.

A store write may wait up to the busy timeout (60 s) for another process's lock, and every COMMIT waits for
the disk (``synchronous=FULL``): on the event loop that would hold up every request in flight, and a request
held long enough times out. Writes run on one thread (in order), reads on another (a read never queues behind a
write that waits); the loop awaits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from enrichment_assets.storage.response_store import ResponseStore

T = TypeVar("T")


class StoreIO:
    def __init__(self, store: ResponseStore) -> None:
        self.store = store
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        return await asyncio.get_running_loop().run_in_executor(self._writer, partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        return await asyncio.get_running_loop().run_in_executor(self._reader, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the writes under way and stop the threads (a later call starts them again)."""
        for executor in (self._writer, self._reader):
            if executor is not None:
                executor.shutdown(wait=True)
        self._writer = self._reader = None

"""The waterfall's door to the response store: SQLite off the event loop, writes grouped per disk wait.

A store write may wait up to the busy timeout (60 s) for another process's lock, and every COMMIT waits for
the disk (``synchronous=FULL``): on the event loop that would hold up every request in flight, and a request
held long enough times out. Writes run on one thread, in order; reads on another (a read never queues behind a
write that waits); the loop awaits them.

Group commit: the writes that queued up while the previous COMMIT waited for the disk go in one transaction
(each in a savepoint of it, so one failing write fails alone), and each caller resumes only once that
transaction is durable. With many requests in flight, one disk wait serves many of them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from enrichment_assets.storage.state_store import StateStore

T = TypeVar("T")

#: Writes at most in one transaction.
MAX_GROUP = 256

_STOP = object()
_Item = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class StoreIO:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store write on the writer thread; returns once its transaction is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="store-write", daemon=True)
                self._writer.start()
            self._queue.put((partial(fn, *args, **kwargs), loop, future))
        return await future

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        return await asyncio.get_running_loop().run_in_executor(self._reader, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the writes under way and stop the threads (a later call starts them again)."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                self._queue.put(_STOP)
        if writer is not None:
            writer.join()
        if self._reader is not None:
            self._reader.shutdown(wait=True)
            self._reader = None

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Item] = [first]  # type: ignore[list-item]
            while len(batch) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            outcomes: list[tuple[bool, Any]] = []
            try:
                with self.store.group():
                    for call, _, _ in batch:
                        try:
                            outcomes.append((True, call()))
                        except Exception as exc:  # noqa: BLE001 - handed to the caller that asked for this write
                            outcomes.append((False, exc))
            except Exception as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: none of the writes is durable
                outcomes = [(False, exc)] * len(batch)
            for (ok, value), (_, loop, future) in zip(outcomes, batch, strict=True):
                loop.call_soon_threadsafe(_settle, future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

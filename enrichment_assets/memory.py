"""Hand memory a finished step freed back to the operating system.

`enrich run` executes every step in one process. Python's allocator, glibc's heap and pyarrow's mimalloc
pool keep what a step freed for later reuse, but they do not share it: the ~250 MB the waterfall walk
freed in pyarrow's pool could not serve the merge's Python objects, so the steps' peaks stacked up
(benchmarks/README.md, local scale). Releasing between heavy steps keeps the process near the largest
single step.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys

import pyarrow as pa


def release_freed_memory() -> None:
    """Collect garbage, then return freed pages of pyarrow's pool and of the C heap to the OS."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)

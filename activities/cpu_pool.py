"""Run CPU-bound image work (decode, hash, resize) off the worker's event loop.

Why a dedicated, bounded thread pool and not a process pool or the loop's default executor:

- The heavy parts release the GIL: Pillow decodes, resamples and encodes in C between
  `ImagingSectionEnter/Leave` (the Python loop around them runs per 64 KiB chunk), and hashlib
  drops the GIL for buffers over 2 KiB. A thread gives the event loop the interpreter back for
  all but a few milliseconds of a 0.5 s crop, which is what keeps heartbeats, polls and S3
  I/O flowing.
- A thread shares the bytes it works on: a 20 MB 4K image is neither pickled nor copied to
  another process and back (a process pool would hold it two or three times over, spend tens
  of milliseconds serialising it on the loop, and need its own memory budget).
- Dedicated and bounded (`CPU_THREADS`): the work never queues behind, or starves, the loop's
  default executor (getaddrinfo, `asyncio.to_thread` in libraries), more threads than cores
  would only share the same cores, and at most `CPU_THREADS` decoded bitmaps (~65 MB each at
  4K, RGBA) exist at once however many activities run: that bound is part of the worker's
  memory budget (docs/decisions.md, "Worker event loop and memory").
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Threads for image work: the cores, at least 2 (so one long crop does not hold up a short
# hash), at most 4 (each may hold a decoded 4K bitmap).
CPU_THREADS = max(2, min(4, os.cpu_count() or 2))

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process-wide pool, created on first use (threads start lazily, as work arrives)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=CPU_THREADS, thread_name_prefix="image-cpu")
        return _executor


async def run_cpu(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` run in the image thread pool; its exceptions propagate.

    Cancelling the awaiting task does not interrupt the thread: the call finishes and its
    result is dropped (the work is bounded: one decode, hash or crop).
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(fn, *args, **kwargs))

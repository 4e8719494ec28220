"""Run an awaitable while heartbeating, so a dead worker is noticed in seconds and a
cancellation (which reaches an activity only through its heartbeat) stops the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


async def with_heartbeats(work: Awaitable[T], every_s: float = 2.0) -> T:
    """Await `work`, heartbeating every `every_s` seconds; cancelling this cancels `work`."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()

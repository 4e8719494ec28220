"""Run an awaitable while heartbeating, so a dead worker is noticed in seconds and a
cancellation (which reaches an activity only through its heartbeat) stops the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


async def with_heartbeats(work: Awaitable[T], every_s: float = 2.0, details: object | None = None) -> T:
    """Await `work`, heartbeating every `every_s` seconds; cancelling this cancels `work`.

    `details` (when not None) go with every heartbeat: the server keeps only the last
    heartbeat's details, so an activity whose progress is read from them passes it here."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            if details is None:
                activity.heartbeat()
            else:
                activity.heartbeat(details)
    finally:
        if not task.done():
            task.cancel()

"""Retry S3 operations inside an activity, heartbeating between attempts.

Used where the work before the S3 call was expensive (a paid model answer): retrying here keeps
the bytes in hand instead of failing the activity and paying for them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import with_heartbeats
from kernel import failure_codes

T = TypeVar("T")

# Delays between attempts, in seconds: about five minutes of S3 trouble are absorbed inside the
# activity (within GENERATE_START_TO_CLOSE), so a paid image is not thrown away.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0)


async def store_with_retries(op: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `op` until it succeeds, sleeping `BACKOFF_S` between failures and heartbeating.

    Raises a retryable ApplicationError (StorageUnavailable) when every attempt failed.
    """
    last: Exception | None = None
    for delay in (*BACKOFF_S, None):
        try:
            return await op()
        except (BotoCoreError, ClientError, OSError) as exc:
            last = exc
            activity.logger.warning("S3 %s failed (%s); retrying in %s s", what, exc, delay)
        if delay is None:
            break
        await with_heartbeats(asyncio.sleep(delay))
    raise ApplicationError(f"S3 unavailable: {what}: {last}", type=failure_codes.STORAGE_UNAVAILABLE)

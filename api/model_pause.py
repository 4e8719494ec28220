"""New standard tasks of a model whose queue is paused for Gemini's daily quota are refused
(429 `quota_exhausted`, Retry-After until the reset) instead of accepted: they would wait in
the paused queue past their deadline and end `timed_out`. Batch mode goes through the Batch API,
which has its own quota, and is still accepted. The pause is read from the model queue's config
(`clients/queue_pause.py`), at most once per CACHE_S per queue and API process.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.service import RPCError

from api.error_responses import TooManyRequests
from clients.queue_pause import queue_paused_until
from clients.settings import Settings
from kernel.contract import model_task_queue

log = logging.getLogger(__name__)

CACHE_S = 2.0
_seen: dict[str, tuple[float, datetime | None]] = {}  # queue -> (read at, monotonic; paused until)


async def refuse_if_model_paused(client: Client, settings: Settings, model: str, mode: str) -> None:
    """Raise TooManyRequests (429 `quota_exhausted`) when `model`'s queue is paused and `mode`
    is "standard". An unreadable config counts as not paused (starting the workflow will tell)."""
    if mode != "standard":
        return
    queue = model_task_queue(settings.temporal_task_queue, model)
    read_at, until = _seen.get(queue, (-math.inf, None))
    if time.monotonic() - read_at > CACHE_S:
        try:
            until = await queue_paused_until(client, settings.temporal_namespace, queue)
        except RPCError as exc:
            log.warning("could not read the pause of %s: %s", queue, exc)
            until = None
        _seen[queue] = (time.monotonic(), until)
    now = datetime.now(UTC)
    if until is not None and until > now:
        raise TooManyRequests(
            f"the daily Gemini quota of {model} is used up: model calls resume at {until.isoformat()} "
            '(midnight Pacific); batch mode ("mode": "batch") has a quota of its own',
            retry_after_s=max(1, math.ceil((until - now).total_seconds())),
            code="quota_exhausted",
        )

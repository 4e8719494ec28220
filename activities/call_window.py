"""Admission of model calls into the fleet's sliding minute (`db/model_calls.py`).

Pacing (`activities/quota_pacing.py`) spaces calls at the quota through each model queue's
server-side dispatch rate, but a token-bucket rate limiter lets a few calls through at once after
a quiet spell, and a call that waited there still reaches Google inside a minute that already
holds the quota: Google answers 429 (measured: 3 in 120 images at a pace 2 % under the quota).
Before each model call, `generate_image` asks this window for a place; a full window means a
wait (heartbeating) until the oldest call leaves it, not a 429. The window is Postgres's, so it
holds for every worker together.

Metric: `render_quota_window_waits{model}` (calls that had to wait for the window).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.runtime import Runtime

from db.model_calls import admit_model_call
from db.session import SessionFactory

log = logging.getLogger(__name__)

# Google's window is a minute at Google; ours runs a little longer, for the time between our
# admission and the call's arrival there (request upload, and a new connection or a busy event
# loop on either side: 61 s still let 2 of 120 calls in a 60/min bench meet a 429). It binds at
# 60/62 calls/s in steady state, a little under the pace (QUOTA_HEADROOM 2 %).
WINDOW = timedelta(seconds=62)
HEARTBEAT_EVERY_S = 2.0


class CallWindow:
    """At most `images_per_minute` model calls per model in any `window` (WINDOW), fleet-wide:
    every worker's CallWindow on one database shares the count."""

    def __init__(
        self,
        sessions: SessionFactory,
        images_per_minute: float,
        runtime: Runtime | None = None,
        window: timedelta = WINDOW,
        by_model: Mapping[str, float] | None = None,
    ) -> None:
        """`images_per_minute`: every model's quota, unless `by_model` names the model."""
        self._sessions = sessions
        self._default = images_per_minute
        self._by_model = dict(by_model or {})
        self.window = window
        meter = (runtime or Runtime.default()).metric_meter
        self._waits = meter.create_counter("render_quota_window_waits", "model calls that waited for the window")

    def per_window(self, model: str) -> int:
        """Calls of `model` one window holds (its quota per minute, at least 1)."""
        return max(1, math.floor(self._by_model.get(model, self._default)))

    async def admit(self, model: str) -> float:
        """Return once a call of `model` fits the window and is recorded in it; returns the
        seconds waited. Heartbeats while waiting when run in an activity (a cancel stops it)."""
        waited = 0.0
        while True:
            async with self._sessions() as session, session.begin():
                wait_s = await admit_model_call(session, model, self.per_window(model), self.window)
            if wait_s == 0.0:
                return waited
            if waited == 0.0:
                self._waits.add(1, {"model": model})
                log.info("the %s window holds %d calls: waiting %.1f s", model, self.per_window(model), wait_s)
            waited += wait_s
            await _sleep_heartbeating(wait_s)


async def _sleep_heartbeating(seconds: float) -> None:
    end = asyncio.get_running_loop().time() + seconds
    while (left := end - asyncio.get_running_loop().time()) > 0:
        if activity.in_activity():
            activity.heartbeat()
        await asyncio.sleep(min(left, HEARTBEAT_EVERY_S))

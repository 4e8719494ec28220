"""Pacing model calls at the Gemini quota, for the whole fleet of workers.

Model calls run on their own activity task queue per model (`kernel.contract.model_task_queue`).
The pace is that queue's *server-side* dispatch rate limit, set through Temporal's task queue
config API (`UpdateTaskQueueConfig`, `queue_rate_limit`, Temporal server >= 1.28): the matching
service hands out at most that many generate_image tasks per second to all workers together, so
adding workers adds concurrency, never quota. Retries go through the same limit.

Adaptation (AIMD, as TCP does): a 429 that gets through anyway (a quota set too high, or shared
with another application) takes 20 % off the rate, at most once per `DECREASE_COOLDOWN_S`; every
`RECOVERY_INTERVAL_S` without a 429 adds a tenth of the configured rate back, up to it. A
per-day quota 429 pauses the queue (rate 0: nothing is dispatched, nothing is retried, tasks wait
in Temporal) until Google's daily reset at midnight Pacific time, then the configured rate is
restored. The pause lives in the queue's config (`kernel/quota_pause.py`: its reason names the
reset), so a worker that starts or recovers during it keeps it, an operator's manual resume ends
it for every worker, and the API refuses new standard tasks of the model meanwhile
(`api/model_pause.py`). Every worker runs the same loop; their adjustments are idempotent clamps
of one shared value, so several workers agree without coordination.

Metrics (on the worker's Prometheus endpoint, beside the queue wait per project,
`render_queue_wait_seconds{model,project}` of `activities.metrics`): `render_model_pace{model}` (the
dispatch rate this worker last set, calls/s), `render_pace_adjustments{model,kind}`
(configured, slow_down, speed_up, pause, resume) and `render_quota_429{model,quota,quota_id}`
(per_minute, per_day; Google's quotaId).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.gemini_outcome import quota_id_of
from clients.queue_pause import queue_paused_until
from kernel import failure_codes
from kernel.quota_pause import pause_reason

log = logging.getLogger(__name__)

DECREASE_FACTOR = 0.8
DECREASE_COOLDOWN_S = 5.0
RECOVERY_INTERVAL_S = 5.0
RECOVERY_STEP = 0.1  # of the configured rate
MIN_FRACTION = 0.05  # never below 5% of the configured rate, except a daily-quota pause
# The pace sits this much under the configured quota: calls reach Google with jitter (dispatch,
# worker and network latency), so a pace of exactly 60/min now and then puts a 61st call inside
# Google's sliding minute (measured: 6 429s for 120 images at 0 %).
QUOTA_HEADROOM = 0.02
PACIFIC = ZoneInfo("America/Los_Angeles")  # Gemini's per-day quotas reset at midnight Pacific


def next_daily_reset(now: datetime) -> datetime:
    """The next midnight Pacific time after `now` (aware), in UTC."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)


_TRANSIENT = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


async def _with_transient_retries(
    call: Callable[[], Awaitable[object]], delays_s: tuple[float, ...] = (0.2, 1.0)
) -> None:
    """Run a Temporal RPC `call`, again after each of `delays_s` (seconds) when the server answers
    CANCELLED, UNAVAILABLE or DEADLINE_EXCEEDED (a busy server does). Raises the last RPCError."""
    for delay_s in delays_s:
        try:
            await call()
            return
        except RPCError as err:
            if err.status not in _TRANSIENT:
                raise
            await asyncio.sleep(delay_s)
    await call()


class QuotaPacer:
    """The dispatch rate of one model's task queue: configured `images_per_minute`, adapted.

    `rate_per_s` is what this worker last set (the server holds the shared value)."""

    def __init__(self, client: Client, namespace: str, task_queue: str, model: str, images_per_minute: float) -> None:
        self.client = client
        self.namespace = namespace
        self.task_queue = task_queue
        self.model = model
        self.target_per_s = images_per_minute / 60.0 * (1 - QUOTA_HEADROOM)
        self.rate_per_s = self.target_per_s
        self.paused_until: datetime | None = None
        self._last_decrease = 0.0
        self._last_limited = 0.0
        meter = (client.service_client.config.runtime or Runtime.default()).metric_meter
        self._pace = meter.create_gauge_float("render_model_pace", "model queue dispatch rate", "1/s")
        self._changes = meter.create_counter("render_pace_adjustments", "model queue pace changes")
        self._limited = meter.create_counter("render_quota_429", "Gemini 429s that got through, by quota")

    def count_429(self, quota: str, quota_id: str = "unknown") -> None:
        """Count a 429 of `quota` ("per_minute" or "per_day") naming Google's `quota_id`."""
        self._limited.add(1, {"model": self.model, "quota": quota, "quota_id": quota_id})

    async def _set(self, rate_per_s: float, reason: str, kind: str) -> None:
        request = UpdateTaskQueueConfigRequest(
            namespace=self.namespace,
            identity=f"render-studio-pacer/{self.model}",
            task_queue=self.task_queue,
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
        request.update_queue_rate_limit.rate_limit.requests_per_second = rate_per_s
        request.update_queue_rate_limit.reason = reason[:200]
        await _with_transient_retries(lambda: self.client.workflow_service.update_task_queue_config(request))
        self.rate_per_s = rate_per_s
        self._pace.set(rate_per_s, {"model": self.model})
        self._changes.add(1, {"model": self.model, "kind": kind})
        log.info("model queue %s paced at %.3f calls/s: %s", self.task_queue, rate_per_s, reason)

    async def start(self) -> None:
        """Set the configured rate, unless the queue is paused for the daily quota until a reset
        still to come (another worker paused it): then keep the pause. A pause whose reset has
        passed is lifted."""
        until = await queue_paused_until(self.client, self.namespace, self.task_queue)
        if until is not None:
            self.paused_until, self.rate_per_s = until, 0.0
            self._pace.set(0.0, {"model": self.model})
            log.warning("model queue %s stays paused until %s (daily quota)", self.task_queue, until)
            return
        await self._set(self.target_per_s, f"configured: {self.target_per_s * 60:g} images/min", "configured")

    async def rate_limited(self) -> None:
        """A per-minute 429 got through: slow the fleet down by DECREASE_FACTOR (once per cooldown)."""
        now = time.monotonic()
        self._last_limited = now
        if self.paused_until is not None or now - self._last_decrease < DECREASE_COOLDOWN_S:
            return
        self._last_decrease = now
        slower = max(self.target_per_s * MIN_FRACTION, self.rate_per_s * DECREASE_FACTOR)
        await self._set(slower, "Gemini answered 429 (per-minute quota): slowing down", "slow_down")

    async def daily_quota_exhausted(self) -> datetime:
        """Pause the queue until the daily reset; returns the reset time (UTC)."""
        reset = next_daily_reset(datetime.now(UTC))
        # Every time, not only the first: an operator may have resumed the queue by hand since.
        if self.paused_until is None:
            log.warning("daily Gemini quota of %s exhausted: model queue paused until %s", self.model, reset)
        await self._set(0.0, pause_reason(reset), "pause")
        self.paused_until = reset
        return reset

    async def recover_forever(self) -> None:
        """Every RECOVERY_INTERVAL_S: lift an expired pause, or step the rate back up when no 429
        came in the last interval."""
        while True:
            await asyncio.sleep(RECOVERY_INTERVAL_S)
            with contextlib.suppress(Exception):  # Temporal briefly unreachable: try next round
                await self._recover_once()

    async def _recover_once(self) -> None:
        if self.paused_until is not None:
            if datetime.now(UTC) >= self.paused_until:
                self.paused_until = None
                await self._set(self.target_per_s, "daily quota reset: resuming", "resume")
            elif await queue_paused_until(self.client, self.namespace, self.task_queue) is None:
                # resumed by hand (`temporal task-queue config set`): the operator's rate stands
                self.paused_until, self.rate_per_s = None, self.target_per_s
                log.warning("model queue %s was resumed by hand", self.task_queue)
            return
        quiet = time.monotonic() - self._last_limited >= RECOVERY_INTERVAL_S
        if quiet and self.rate_per_s < self.target_per_s:
            # Another worker may have paused the queue since this one slowed it: keep its pause.
            until = await queue_paused_until(self.client, self.namespace, self.task_queue)
            if until is not None:
                self.paused_until, self.rate_per_s = until, 0.0
                return
            faster = min(self.target_per_s, self.rate_per_s + self.target_per_s * RECOVERY_STEP)
            await self._set(faster, "no 429 for a while: speeding up", "speed_up")


class _PacingInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, pacer: QuotaPacer) -> None:
        super().__init__(next)
        self._pacer = pacer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except ApplicationError as err:
            if err.type == failure_codes.RATE_LIMITED:
                self._pacer.count_429("per_minute", quota_id_of(err))
                try:
                    await self._pacer.rate_limited()
                except Exception:  # Temporal unreachable: the 429 stands; the next one slows down
                    log.warning("could not slow model queue %s down", self._pacer.task_queue, exc_info=True)
            elif err.type == failure_codes.QUOTA_EXHAUSTED:
                self._pacer.count_429("per_day", quota_id_of(err))
                try:
                    reset = await self._pacer.daily_quota_exhausted()
                except Exception:  # not paused: retry later (a call then meets the 429 again)
                    log.warning("could not pause model queue %s", self._pacer.task_queue, exc_info=True)
                    raise ApplicationError(
                        f"{err.message}; the model queue could not be paused: retrying in a minute",
                        type=failure_codes.QUOTA_PAUSED,
                        next_retry_delay=timedelta(seconds=60),
                    ) from err
                # Retryable while paused: the retry waits in the (paused) queue, burning nothing.
                raise ApplicationError(
                    f"{err.message}; model calls paused until the daily quota resets at {reset.isoformat()}",
                    type=failure_codes.QUOTA_PAUSED,
                    next_retry_delay=timedelta(seconds=5),
                ) from err
            raise


class PacingInterceptor(Interceptor):
    """Worker interceptor of a model queue: feeds its activities' 429s to the pacer."""

    def __init__(self, pacer: QuotaPacer) -> None:
        self._pacer = pacer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _PacingInbound(next, self._pacer)

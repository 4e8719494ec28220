"""The model quota is shared: paced for the whole fleet, fairly between projects, interactive
before batch, slowed by a 429 and paused (not retried) by a per-day quota.

Each test runs its own task queue with a fleet of two worker processes' worth of workers
(two `WorkerGroup`s) and its own API app, against the session's Temporal, Postgres, S3 and
Gemini emulator. Pacing is the model queue's server-side dispatch rate, so what is asserted is
what the emulator saw: when each model call arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from activities.call_window import CallWindow
from activities.quota_pacing import QUOTA_HEADROOM
from api.model_pause import CACHE_S as PAUSE_CACHE_S
from clients.settings import Settings
from clients.temporal_client import connect
from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from kernel.catalog import DEFAULT_MODEL as MODEL
from kernel.catalog import MODELS
from kernel.contract import model_task_queue
from studio.worker import WorkerGroup, render_worker
from tests.helpers import client_as_new_user, create_project, create_task, serve_api, wait_for_task


@dataclass
class Fleet:
    http: httpx.AsyncClient
    settings: Settings
    groups: list[WorkerGroup]

    @property
    def model_queue(self) -> str:
        return model_task_queue(self.settings.temporal_task_queue, MODEL)


@contextlib.asynccontextmanager
async def fleet(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    images_per_minute: float,
    by_model: dict[str, float] | None = None,
) -> AsyncIterator[Fleet]:
    """Two workers and an API on a fresh task queue paced at `images_per_minute` (per model:
    `by_model` overrides it)."""
    paced = settings.model_copy(
        update={
            "temporal_task_queue": f"paced-{uuid.uuid4().hex[:8]}",
            "gemini_images_per_minute": images_per_minute,
            "gemini_images_per_minute_by_model": by_model or {},
        }
    )
    async with contextlib.AsyncExitStack() as stack:
        # Two worker processes' worth: each has its own client and SDK runtime, as processes do
        # (one runtime refuses two workers on one task queue).
        clients = [await connect(paced, runtime=Runtime(telemetry=TelemetryConfig())) for _ in range(2)]
        groups = [await stack.enter_async_context(render_worker(c, paced)) for c in clients]
        runs = [asyncio.create_task(g.run()) for g in groups]
        # Each worker's pacers set their model queues' rates as it starts running: wait for them.
        for model in MODELS:
            queue = model_task_queue(paced.temporal_task_queue, model)
            for _ in range(100):
                if await _queue_rate(temporal, queue):
                    break
                await asyncio.sleep(0.1)
        api = await stack.enter_async_context(serve_api(paced))
        http = await stack.enter_async_context(client_as_new_user(api.base_url, sessions))
        try:
            yield Fleet(http, paced, groups)
        finally:
            await asyncio.gather(*(g.shutdown() for g in groups))
            await asyncio.gather(*runs, return_exceptions=True)


async def _queue_rate(temporal: Client, queue: str) -> float:
    """The queue's server-side dispatch rate (calls/s). A busy dev server now and then answers a
    read with CANCELLED or UNAVAILABLE (seen in CI: "operation was canceled"); a read is safe to
    repeat, so it is, a few times."""
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        report_config=True,
    )
    for delay_s in (0.5, 1.0, 2.0, 4.0):
        try:
            return await _rate_once(temporal, request)
        except RPCError as err:
            if err.status not in _TRANSIENT:
                raise
            await asyncio.sleep(delay_s)
    return await _rate_once(temporal, request)


async def _rate_once(temporal: Client, request: DescribeTaskQueueRequest) -> float:
    described = await temporal.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=10))
    return float(described.config.queue_rate_limit.rate_limit.requests_per_second)


async def _set_queue_rate(temporal: Client, queue: str, rate_per_s: float, reason: str) -> None:
    """What `temporal task-queue config set --queue-rps-limit` does."""
    request = UpdateTaskQueueConfigRequest(
        namespace="default",
        identity="test-operator",
        task_queue=queue,
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    request.update_queue_rate_limit.rate_limit.requests_per_second = rate_per_s
    request.update_queue_rate_limit.reason = reason
    await temporal.workflow_service.update_task_queue_config(request)


_TRANSIENT = {RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


async def test_two_workers_together_keep_to_the_quota(
    temporal: Client, settings: Settings, sessions: SessionFactory, emulator: EmulatorServer, token: str
) -> None:
    async with fleet(temporal, settings, sessions, images_per_minute=60) as f:
        project = await create_project(f.http)
        created = [await create_task(f.http, project, prompt=f"a lamp {i} {token}") for i in range(10)]
        for task in created:
            assert (await wait_for_task(f.http, task["id"]))["status"] == "succeeded"

    arrivals = sorted(call.at for call in emulator.calls(token))
    assert len(arrivals) == 10
    # 60 images/min = 1 per second for both workers together; the server's token bucket lets a
    # burst of at most a few through at once. Unpaced, the ten calls arrive within a second.
    assert arrivals[-1] - arrivals[0] >= 6.0, arrivals


async def test_a_small_project_is_served_while_a_big_batch_waits(
    temporal: Client, settings: Settings, sessions: SessionFactory, emulator: EmulatorServer, token: str
) -> None:
    async with fleet(temporal, settings, sessions, images_per_minute=60) as f:
        big, small = await create_project(f.http, "big"), await create_project(f.http, "small")
        batch = await asyncio.gather(*(create_task(f.http, big, prompt=f"big {i} {token}") for i in range(16)))
        submitted = time.time()
        single = await create_task(f.http, small, prompt=f"small one {token}")
        assert (await wait_for_task(f.http, single["id"]))["status"] == "succeeded"
        for task in batch:
            await wait_for_task(f.http, task["id"])

    _assert_served_ahead_of_backlog(emulator, token, "small one", submitted)


def _assert_served_ahead_of_backlog(emulator: EmulatorServer, token: str, marker: str, submitted: float) -> None:
    """The `marker` call came within a few dispatch slots of its submission (its workflow first
    runs two short activities, and the server's matcher holds a few tasks in hand), while calls
    of the earlier backlog were still waiting: first come, first served would have served the
    whole backlog first."""
    calls = emulator.calls(token)
    mine = next(c.at for c in calls if marker in c.prompt)
    others = [c.at for c in calls if marker not in c.prompt]
    assert sum(1 for at in others if submitted <= at < mine) <= 6, (submitted, mine, sorted(others))
    assert sum(1 for at in others if at > mine) >= 3, (mine, sorted(others))


async def test_interactive_tasks_go_before_batch_ones(
    temporal: Client, settings: Settings, sessions: SessionFactory, emulator: EmulatorServer, token: str
) -> None:
    async with fleet(temporal, settings, sessions, images_per_minute=60) as f:
        project = await create_project(f.http)
        batch = await asyncio.gather(
            *(create_task(f.http, project, prompt=f"later {i} {token}", priority="batch") for i in range(16))
        )
        submitted = time.time()
        urgent = await create_task(f.http, project, prompt=f"urgent {token}")
        assert urgent["parameters"]["priority"] == "interactive"
        await wait_for_task(f.http, urgent["id"])
        for task in batch:
            await wait_for_task(f.http, task["id"])

    _assert_served_ahead_of_backlog(emulator, token, "urgent", submitted)


async def test_a_429_slows_the_fleet_down(
    temporal: Client, settings: Settings, sessions: SessionFactory, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "rate_limit", "retry_delay_s": 1}])
    async with fleet(temporal, settings, sessions, images_per_minute=600) as f:
        assert await _queue_rate(temporal, f.model_queue) == pytest.approx(10.0 * (1 - QUOTA_HEADROOM))
        project = await create_project(f.http)
        task = await create_task(f.http, project, prompt=f"a door {token}")
        assert (await wait_for_task(f.http, task["id"]))["status"] == "succeeded"
        # slowed, fleet-wide
        assert await _queue_rate(temporal, f.model_queue) == pytest.approx(8.0 * (1 - QUOTA_HEADROOM))


async def test_a_daily_quota_pauses_the_model_queue_instead_of_burning_retries(
    temporal: Client, settings: Settings, sessions: SessionFactory, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(f"first {token}", [{"kind": "rate_limit", "per_day": True}])
    async with fleet(temporal, settings, sessions, images_per_minute=600) as f:
        project = await create_project(f.http)
        first = await create_task(f.http, project, prompt=f"first {token}")
        waiting = await wait_for_task(f.http, first["id"], statuses={"running"})
        for _ in range(60):
            waiting = (await f.http.get(f"/api/v1/tasks/{first['id']}")).json()
            if waiting["variations"][0].get("retry"):
                break
            await asyncio.sleep(0.25)
        retry = waiting["variations"][0]["retry"]
        assert retry, waiting
        assert retry["code"] == "quota_exhausted"
        assert "paused until the daily quota resets" in retry["message"]
        assert await _queue_rate(temporal, f.model_queue) == 0.0
        # New standard work of the model is refused until the reset, not left to time out
        # (once the API's read of the queue's config, at most PAUSE_CACHE_S old, sees the pause).
        await asyncio.sleep(PAUSE_CACHE_S + 0.5)
        refused = await f.http.post(
            f"/api/v1/projects/{project}/tasks", json={"name": "t", "prompt": f"second {token}"}
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "quota_exhausted"
        assert "resume at" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) > 60  # the next midnight Pacific
        # A worker (re)starting during the pause keeps it.
        await next(p for p in f.groups[1].pacers if p.model == MODEL).start()
        assert await _queue_rate(temporal, f.model_queue) == 0.0
        await asyncio.sleep(3)
        assert [c.outcome for c in emulator.calls(token)] == ["rate_limit"]  # one call, no retries

        # The reset comes (here an operator resumes the queue by hand): the task finishes, and
        # new tasks are taken again.
        await _set_queue_rate(temporal, f.model_queue, 10.0, "resumed by hand")
        assert (await wait_for_task(f.http, first["id"]))["status"] == "succeeded"
        for _ in range(20):
            later = await f.http.post(
                f"/api/v1/projects/{project}/tasks", json={"name": "t", "prompt": f"second {token}"}
            )
            if later.status_code != 429:
                break
            await asyncio.sleep(0.5)  # the API reads the pause at most every PAUSE_CACHE_S
        assert later.status_code == 202, later.text
        assert (await wait_for_task(f.http, later.json()["id"]))["status"] == "succeeded"


async def test_each_model_is_paced_at_its_own_quota(
    temporal: Client, settings: Settings, sessions: SessionFactory
) -> None:
    """Google's quotas differ by model: GEMINI_IMAGES_PER_MINUTE_BY_MODEL paces one model at
    120/min while the others keep GEMINI_IMAGES_PER_MINUTE (600/min)."""
    other = next(m for m in MODELS if m != MODEL)
    async with fleet(temporal, settings, sessions, images_per_minute=600, by_model={MODEL: 120}) as f:
        own = await _queue_rate(temporal, f.model_queue)
        rest = await _queue_rate(temporal, model_task_queue(f.settings.temporal_task_queue, other))

    assert own == pytest.approx(2.0 * (1 - QUOTA_HEADROOM))
    assert rest == pytest.approx(10.0 * (1 - QUOTA_HEADROOM))


def test_a_quota_for_an_unknown_model_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown models"):
        Settings(_env_file=None, gemini_images_per_minute_by_model={"gemini-9-imaginary": 10})


async def test_a_burst_waits_for_the_fleets_window_instead_of_meeting_a_429(sessions: SessionFactory) -> None:
    """What a dispatch-rate burst would do: two workers ask for 8 calls at once of a model with a
    quota of 5 per (here) 5-s window. Five go at once; the other three wait until the first ones
    leave the window, so no window ever holds more than 5, whichever worker made the call."""
    model = f"burst-model-{uuid.uuid4().hex[:8]}"  # a window of its own
    window = timedelta(seconds=5)
    workers = [CallWindow(sessions, images_per_minute=5, window=window) for _ in range(2)]
    start = time.monotonic()

    async def call(i: int) -> float:
        await workers[i % 2].admit(model)
        return time.monotonic() - start

    admitted = sorted(await asyncio.gather(*(call(i) for i in range(8))))

    assert all(at < 2.0 for at in admitted[:5]), admitted  # five short transactions, even on a busy box
    assert all(at >= 4.5 for at in admitted[5:]), admitted  # waited for the window, not a 429
    for i, at in enumerate(admitted):
        in_window = [other for other in admitted if at <= other < at + window.total_seconds() - 0.5]
        assert len(in_window) <= 5, (i, admitted)

"""The fault scenarios. Each submits tasks through the API process, injects one fault, waits
for every task to finish and returns the invariant report."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.chaos.driver import Probe, create_project, probe_while, submit, wait_terminal
from tests.chaos.harness import ChaosEnv
from tests.chaos.invariants import Report, check

Fault = Callable[[ChaosEnv], Awaitable[float]]  # injects, returns when the fault ended (monotonic)
Script = Callable[[int], list[dict[str, Any]]]


def ok_after(latency_s: float) -> Script:
    return lambda i: [{"kind": "ok", "latency_s": latency_s}] * 3


@dataclass(frozen=True)
class Scenario:
    """A named fault with its default size (tasks)."""

    name: str
    tasks: int
    fast_tasks: int
    workers: int
    script: Script
    fault: Fault
    concurrent_duplicates: bool = False
    # Task i must end as expected[i % len(expected)] (a status or an error code); None: anything.
    expected: list[str] | None = None


async def run(env: ChaosEnv, scenario: Scenario, tasks: int) -> Report:
    """Submit `tasks` tasks, inject the fault, wait, check the invariants."""
    token = f"{scenario.name}-{uuid.uuid4().hex[:6]}"
    prompts = [f"{token} t{i:03d}x" for i in range(tasks)]
    for i, prompt in enumerate(prompts):
        env.emulator.script(prompt, scenario.script(i))
    async with env.client() as client:
        project_id = await create_project(client, token)
        probe, stop = Probe(), asyncio.Event()
        prober = asyncio.create_task(probe_while(client, project_id, stop, probe))
        copies = 2 if scenario.concurrent_duplicates else 1
        submissions = asyncio.gather(
            *(submit(client, project_id, p, key=f"{token}-{i}") for i, p in enumerate(prompts) for _ in range(copies))
        )
        fault_ended = await scenario.fault(env)
        ids = list(dict.fromkeys(await submissions))
        views = await wait_terminal(client, ids, timeout_s=env.deadline_s + 90)
        finished = time.monotonic()
        stop.set()
        await prober
    report = Report(scenario.name, recovery_s=max(0.0, finished - fault_ended))
    report.http_500 = probe.codes[500]
    report.http_503 = probe.codes[503]
    await check(env, report, project_id, views, token)
    if len(ids) != tasks:
        report.duplicates += abs(len(ids) - tasks)
    if scenario.expected:
        for i, task_id in enumerate(ids):
            view = views.get(task_id, {})
            outcome = view.get("status") if view.get("status") == "succeeded" else (view.get("error") or {}).get("code")
            if outcome != scenario.expected[i % len(scenario.expected)]:
                report.unexpected += 1
                report.notes.append(f"task {i}: {outcome} != {scenario.expected[i % len(scenario.expected)]}")
    return report


async def _kill_a_worker(env: ChaosEnv) -> float:
    # Kill while model calls are in flight (each takes 2 s): some were taken by this worker.
    deadline = time.monotonic() + 60
    while len(env.emulator.calls()) < 10 and time.monotonic() < deadline:  # noqa: ASYNC110 (a log in another thread)
        await asyncio.sleep(0.05)
    env.workers[0].kill()
    killed = time.monotonic()
    await asyncio.sleep(5.0)
    env.new_worker()  # the killed one, restarted later
    return killed


async def _restart_temporal(env: ChaosEnv) -> float:
    await asyncio.sleep(2.0)
    await asyncio.to_thread(env.stack.temporal.kill)
    await asyncio.sleep(3.0)
    await asyncio.to_thread(env.stack.temporal.start)
    return time.monotonic()


async def _restart_postgres(env: ChaosEnv) -> float:
    await asyncio.sleep(2.0)
    await asyncio.to_thread(env.stack.postgres.stop, "immediate")
    await asyncio.sleep(5.0)
    await asyncio.to_thread(env.stack.postgres.start)
    return time.monotonic()


def _s3_outage(seconds: float) -> Fault:
    async def fault(env: ChaosEnv) -> float:
        assert env.proxy is not None
        await asyncio.sleep(1.0)
        env.proxy.fail_with_503(True)
        await asyncio.sleep(seconds)
        env.proxy.fail_with_503(False)
        return time.monotonic()

    return fault


async def _drop_puts(env: ChaosEnv) -> float:
    assert env.proxy is not None
    env.proxy.drop_after_put(10)
    return time.monotonic()


async def _kill_api_twice(env: ChaosEnv) -> float:
    assert env.api is not None
    for _ in range(2):
        await asyncio.sleep(0.4)
        env.api.kill()
        await asyncio.sleep(1.0)
        env.start_api()
        await env.wait_api_ready()
    return time.monotonic()


async def _no_fault(env: ChaosEnv) -> float:
    return time.monotonic()


GEMINI_FAULTS: list[list[dict[str, Any]]] = [
    [{"kind": "rate_limit", "retry_delay_s": 1}] * 3,  # 429 storm with RetryInfo
    [{"kind": "server_error", "code": 500}, {"kind": "server_error", "code": 503}],
    [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}],
    [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}],
    [{"kind": "no_image", "reason": "NO_IMAGE"}] * 5,
    [{"kind": "bad_base64"}] * 5,
    [{"kind": "not_image"}] * 5,
    [{"kind": "hang", "seconds": 60}],  # client timeout (5 s here), then retried
    [{"kind": "ok"}],
    [{"kind": "server_error", "code": 504}],
]
# What each row of GEMINI_FAULTS must end as.
GEMINI_EXPECTED = [
    "succeeded", "succeeded", "content_blocked", "content_blocked", "no_image",
    "invalid_image", "invalid_image", "succeeded", "succeeded", "succeeded",
]  # fmt: skip


SCENARIOS = [
    Scenario("worker_sigkill", 50, 10, 2, ok_after(2.0), _kill_a_worker),
    Scenario("temporal_restart", 20, 6, 2, ok_after(1.5), _restart_temporal),
    Scenario("postgres_restart", 20, 6, 2, ok_after(1.5), _restart_postgres),
    Scenario("s3_503_30s", 20, 6, 2, ok_after(0.5), _s3_outage(30.0)),
    Scenario("s3_drop_after_put", 20, 6, 2, ok_after(0.2), _drop_puts),
    Scenario(
        "gemini_faults", 30, 10, 2, lambda i: GEMINI_FAULTS[i % len(GEMINI_FAULTS)], _no_fault, expected=GEMINI_EXPECTED
    ),
    Scenario("api_crash_idempotency", 30, 10, 2, ok_after(0.5), _kill_api_twice, concurrent_duplicates=True),
]

"""The fast subset of the fault-injection suite (`make chaos` runs all of it at full size).

Each scenario drives real `studio api` and `studio worker` processes over loopback, injects a
fault, and checks the invariants: nothing lost, no duplicates, no orphan objects, every stored
object matches its row, and no HTTP 500 while a dependency is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
import uuid

import pytest

from tests.chaos.driver import create_project, submit, wait_terminal
from tests.chaos.harness import ChaosEnv
from tests.chaos.scenarios import SCENARIOS, Scenario, _s3_outage, run

BY_NAME = {s.name: s for s in SCENARIOS}
FAST = [
    BY_NAME["worker_sigkill"],
    dataclasses.replace(BY_NAME["s3_503_30s"], name="s3_503_5s", fault=_s3_outage(5.0)),
    BY_NAME["s3_drop_after_put"],
    BY_NAME["gemini_faults"],
    BY_NAME["api_crash_idempotency"],
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", FAST, ids=[s.name for s in FAST])
async def test_fault_scenario_keeps_the_invariants(scenario: Scenario) -> None:
    async with ChaosEnv.running(workers=scenario.workers, deadline_s=90) as env:
        report = await run(env, scenario, scenario.fast_tasks)

    print(report)
    assert report.lost == 0
    assert report.duplicates == 0
    assert report.orphans == 0
    assert report.bad_objects == 0
    assert report.http_500 == 0
    assert report.unexpected == 0, report.notes
    assert report.tasks == scenario.fast_tasks
    if scenario.name != "gemini_faults":  # there, retries of unusable answers are the point
        assert report.succeeded == report.tasks
        assert report.images == report.tasks
    if scenario.name not in ("gemini_faults", "worker_sigkill"):
        assert report.model_calls == report.images  # pay once: 1.00 calls per image


@pytest.mark.timeout(180)
async def test_sigterm_lets_the_in_flight_model_call_finish() -> None:
    """Graceful shutdown: a worker told to stop mid-call finishes the paid call first."""
    async with ChaosEnv.running(workers=1, deadline_s=90) as env:
        token = f"sigterm-{uuid.uuid4().hex[:6]}"
        env.emulator.script(token, [{"kind": "ok", "latency_s": 4}])
        async with env.client() as client:
            project_id = await create_project(client, token)
            task_id = await submit(client, project_id, token, key=token)
            deadline = time.monotonic() + 30
            while not env.emulator.calls(token):  # the model call is in flight
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            env.workers[0].kill(signal.SIGTERM)
            exit_code = await asyncio.to_thread(env.workers[0].wait, 40)
            env.new_worker()  # someone must run the rest of the workflow
            views = await wait_terminal(client, [task_id], timeout_s=60)

    assert exit_code == 0
    assert views[task_id]["status"] == "succeeded"
    assert len(env.emulator.calls(token)) == 1  # finished during the grace period, not re-run

"""A worker takes only as many model calls as its memory budget fits (issue 10).

The arithmetic is checked directly; the behaviour through a real worker (`render_worker`) on a
task queue of its own, against the session's stack: with a budget that fits two 4K images, the
emulator never sees more than two calls at a time, however many tasks wait (slots are sized
for each model's largest image, whatever size a call asks for).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.client import Client

from activities.memory_budget import call_cost_mb, model_call_slots, reserved_mb
from clients.settings import Settings
from gemini_emulator import EmulatorServer
from kernel.catalog import MODELS
from studio.worker import render_worker, worker_tuner
from tests.helpers import create_project, start_render_workflow

MODEL = "gemini-3-pro-image-preview"
LATENCY_S = 1.5


def _worst_case_mb(slots: dict[str, int], image_memory_mb: int) -> float:
    return reserved_mb() + sum(n * call_cost_mb(m, image_memory_mb) for m, n in slots.items())


def test_the_slots_fit_the_budget_and_grow_with_it() -> None:
    smallest = reserved_mb() + sum(call_cost_mb(m, 64) for m in MODELS)  # one call of each model
    previous: dict[str, int] | None = None
    for budget in range(64, 4096, 16):
        slots = model_call_slots(budget, 64, 16)
        assert set(slots) == set(MODELS)
        assert all(1 <= n <= 16 for n in slots.values()), (budget, slots)
        if budget >= smallest:
            assert _worst_case_mb(slots, 64) <= budget, (budget, slots)
        if previous is not None:
            assert all(slots[m] >= previous[m] for m in MODELS), (budget, previous, slots)
        previous = slots
    assert model_call_slots(100_000, 64, 16) == dict.fromkeys(MODELS, 16)  # GEMINI_MAX_CONCURRENT_CALLS


def test_the_default_budget_takes_fewer_4k_calls_than_the_concurrency_cap() -> None:
    settings = Settings(_env_file=None, gemini_max_concurrent_calls=64)
    slots = model_call_slots(
        settings.worker_memory_budget_mb, settings.worker_image_memory_mb, settings.gemini_max_concurrent_calls
    )
    assert 4 <= slots[MODEL] < 64
    assert _worst_case_mb(slots, settings.worker_image_memory_mb) <= settings.worker_memory_budget_mb
    tuner = worker_tuner(settings, MODEL)
    assert tuner._get_activities_max() == slots[MODEL]


def _budget_for(calls: int) -> int:
    """The smallest WORKER_MEMORY_BUDGET_MB that gives MODEL exactly `calls` slots (this
    machine's image thread count is part of the arithmetic)."""
    budget = 64
    while model_call_slots(budget, 64, 16)[MODEL] < calls:
        budget += 8
    assert model_call_slots(budget, 64, 16)[MODEL] == calls
    return budget


def _most_in_flight(starts: list[float], duration_s: float) -> int:
    """The largest number of calls in flight at once, each lasting at least `duration_s`."""
    return max(sum(1 for other in starts if start <= other < start + duration_s) for start in starts)


async def test_a_worker_runs_no_more_model_calls_than_its_budget_fits(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, emulator: EmulatorServer, token: str
) -> None:
    budgeted = settings.model_copy(
        update={
            "temporal_task_queue": f"budget-{uuid.uuid4().hex[:8]}",
            "worker_memory_budget_mb": _budget_for(2),
            "worker_image_memory_mb": 64,
            "gemini_max_concurrent_calls": 16,
        }
    )
    variations = 6
    emulator.script(token, [{"kind": "ok", "latency_s": LATENCY_S}] * variations)
    project_id = await create_project(http)

    async with render_worker(temporal, budgeted) as workers:
        run = asyncio.create_task(workers.run())
        try:
            handles = [
                (
                    await start_render_workflow(
                        temporal,
                        budgeted.temporal_task_queue,
                        project_id,
                        f"a tide pool {i} {token}",
                    )
                )[1]
                for i in range(variations)
            ]
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        finally:
            await workers.shutdown()
            await asyncio.gather(run, return_exceptions=True)

    assert all(len(r.asset_ids) == 1 for r in results), results
    starts = sorted(call.at for call in emulator.calls(token))
    assert len(starts) == variations
    # Two slots: never a third call in flight, so six calls take at least three rounds.
    assert _most_in_flight(starts, LATENCY_S) <= 2, starts
    assert starts[-1] - starts[0] >= 2 * LATENCY_S, starts

"""Changing the workflow while tasks run: an unguarded change breaks replay of a recorded
history; the same change behind `workflow.patched` replays cleanly. This is what the replay
step in CI catches before a change ships."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import workflow
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from clients.settings import Settings
from kernel.payloads import RenderTaskInput, RenderTaskResult
from studio.replay import load_history
from studio.worker import render_worker
from tests.helpers import create_project, start_render_workflow
from workflows.render_task import RenderTaskWorkflow

HISTORY = Path(__file__).parent / "histories" / "render_task_v2_succeeded_n2.json"


@workflow.defn(name="RenderTaskWorkflow", sandboxed=False)
class UnguardedChange(RenderTaskWorkflow):
    """Adds a step (a 1 s timer) before the existing ones, without a patch."""

    @workflow.run
    async def run(self, inp: RenderTaskInput) -> RenderTaskResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


@workflow.defn(name="RenderTaskWorkflow", sandboxed=False)
class PatchedChange(RenderTaskWorkflow):
    """The same step behind `workflow.patched`: old histories skip it, new runs take it."""

    @workflow.run
    async def run(self, inp: RenderTaskInput) -> RenderTaskResult:
        if workflow.patched("pause-before-render"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


async def _replay(workflow_class: type) -> BaseException | None:
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load_history(HISTORY), raise_on_replay_failure=False)
    return result.replay_failure


async def test_unguarded_change_breaks_replay() -> None:
    failure = await _replay(UnguardedChange)
    assert failure is not None
    assert "nondetermin" in str(failure).lower()


async def test_patched_change_replays() -> None:
    assert await _replay(PatchedChange) is None
    assert await _replay(RenderTaskWorkflow) is None


async def test_versioned_worker_pins_new_workflows_to_its_build(
    http: httpx.AsyncClient, temporal: Client, settings: Settings, token: str
) -> None:
    """Worker Versioning: with WORKER_DEPLOYMENT_NAME/WORKER_BUILD_ID set, a task started while
    build b1 is current runs pinned to b1 (Temporal Server >= 1.28; the dev server is 1.32)."""
    deployment = f"render-studio-{uuid.uuid4().hex[:8]}"
    versioned = settings.model_copy(
        update={
            "temporal_task_queue": f"versioned-{uuid.uuid4()}",
            "worker_deployment_name": deployment,
            "worker_build_id": "b1",
        }
    )
    project_id = await create_project(http)
    async with render_worker(temporal, versioned) as worker:
        running = asyncio.create_task(worker.run())
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=versioned.temporal_namespace, deployment_name=deployment, build_id="b1", identity="test"
        )
        for _ in range(50):  # the version exists once the worker has polled
            try:
                await temporal.workflow_service.set_worker_deployment_current_version(request)
                break
            except RPCError:
                await asyncio.sleep(0.2)
        _, handle = await start_render_workflow(temporal, versioned.temporal_task_queue, project_id, f"pinned {token}")
        await handle.result()
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        await worker.shutdown()
        await running

    assert info.behavior == VersioningBehavior.PINNED.value
    assert (info.deployment_version.deployment_name, info.deployment_version.build_id) == (deployment, "b1")

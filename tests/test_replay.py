"""Replay: committed histories must replay against the current workflow code.

A failure here means a workflow change is not deterministic for runs already in flight: guard
it with `workflow.patched` or ship it under a new Worker Deployment version.

tests/histories/ holds, per workflow type (its first event's `workflow_type.name`):
- RenderTaskWorkflow: `render_task_v1_*` (before patch V2), `render_task_v2_*` (succeeded n=2,
  content blocked), `render_task_batch_*` (batch mode, one image);
- BatchCollectorWorkflow: one closed run that handed one task to one job and continued as new;
- GeminiBatchJobWorkflow: a job of one image that succeeded;
- ExportWorkflow: a ZIP of two assets;
- HousekeepingWorkflow: a dry run of `sweep_staging`;
- DeliverWebhookWorkflow: a `task.succeeded` message delivered at the second attempt (the
  receiver answered 500 first).

The fresh-history tests run each of these for real, fetch the history and replay it; with
STUDIO_RECORD_HISTORIES=1 they also write it to tests/histories/<name>.json. To refresh them:

    STUDIO_RECORD_HISTORIES=1 .venv/bin/pytest -q tests/test_replay.py \\
        tests/test_batch_mode.py::test_batch_histories_replay

(the batch histories are recorded in tests/test_batch_mode.py, whose worker has batch settings
short enough for a test). Check the files stay small (tens of KB: payloads hold S3 keys, not
image bytes) before committing them.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory

from clients.settings import Settings
from gemini_emulator import EmulatorServer
from kernel.contract import export_workflow_id
from kernel.exports import HousekeepingInput
from studio.replay import fetch_history, load_history, replay_history
from tests import test_webhooks
from tests.helpers import HISTORIES, assert_replays, create_project, create_task, wait_for_task
from tests.test_exports import rendered, start_export, wait_for_export
from tests.test_webhooks import Receiver
from workflows.housekeeping import HousekeepingWorkflow
from workflows.registry import WORKFLOWS

COMMITTED = sorted(HISTORIES.glob("*.json"))
# Workflow types in WORKFLOWS with no committed history yet (each one is a gap in the guard).
NOT_YET_RECORDED: set[str] = set()
# The fixture: a loopback webhook endpoint that answers 500 to the first delivery, then 200.
receiver = test_webhooks.receiver


def _workflow_type(history: WorkflowHistory) -> str:
    """The type named by the history's first event (WorkflowExecutionStarted)."""
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def _readable(history: WorkflowHistory) -> str:
    """The history's JSON followed by every payload's `data`, base64-decoded (payloads are
    base64 in the JSON, so a plain search of it would miss what they hold)."""
    decoded: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    decoded.append(base64.b64decode(value).decode(errors="replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    raw = history.to_json()
    walk(json.loads(raw))
    return "\n".join([raw, *decoded])


def test_every_workflow_type_has_a_committed_history() -> None:
    committed = {_workflow_type(load_history(path)) for path in COMMITTED}
    # The names the worker registers (`@workflow.defn(name=...)`, else the class name); the SDK
    # has no public accessor for a class's definition.
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert committed <= registered, f"histories of unregistered workflow types: {committed - registered}"
    missing = registered - NOT_YET_RECORDED - committed
    assert not missing, f"no committed history of {missing}: record one (see the module docstring)"
    assert NOT_YET_RECORDED.isdisjoint(committed), "recorded now: drop it from NOT_YET_RECORDED"


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
async def test_committed_history_replays(path: Path) -> None:
    result = await replay_history(load_history(path))
    assert result.replay_failure is None, result.replay_failure


@pytest.mark.parametrize(
    ("name", "outcomes"),
    [
        ("render_task_v2_succeeded_n2", []),
        ("render_task_v2_content_blocked", [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}]),
    ],
)
async def test_fresh_history_replays(
    http: httpx.AsyncClient, emulator: EmulatorServer, temporal: Client, token: str, name: str, outcomes: list[dict]
) -> None:
    emulator.script(token, outcomes)
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"replay me {token}", n=2 if not outcomes else 1)
    await wait_for_task(http, created["id"])

    await assert_replays(await fetch_history(temporal, created["workflow_id"]), name)


async def test_fresh_zip_export_history_replays(http: httpx.AsyncClient, temporal: Client, token: str) -> None:
    project_id = await create_project(http)
    assets = await rendered(http, project_id, prompt=f"replayed export {token}", n=2)
    created = await start_export(http, project_id, format="zip", asset_ids=[a["id"] for a in assets])
    export = await wait_for_export(http, created["id"])
    assert export["status"] == "succeeded", export

    history = await fetch_history(temporal, export_workflow_id(uuid.UUID(export["id"])))
    await assert_replays(history, "export_zip_succeeded_2_assets")


async def test_fresh_housekeeping_history_replays(temporal: Client, settings: Settings, worker: None) -> None:
    """A dry run (it removes nothing the session's other tests own), as a schedule starts it."""
    workflow_id = f"housekeeping-replay-{uuid.uuid4()}"
    report = await temporal.execute_workflow(
        HousekeepingWorkflow.run,
        HousekeepingInput(job="sweep_staging", dry_run=True),
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
    )
    assert report.job == "sweep_staging" and report.dry_run

    await assert_replays(await fetch_history(temporal, workflow_id), "housekeeping_sweep_staging_dry_run")


async def test_fresh_webhook_delivery_history_replays(
    http: httpx.AsyncClient, temporal: Client, receiver: Receiver, token: str
) -> None:
    """The child `webhook-<task id>-succeeded`, delivered at the second attempt: its history
    holds the retried activity (attempt 2, last failure: the 500)."""
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"replayed webhook {token}", webhook_url=receiver.url)
    assert (await wait_for_task(http, created["id"]))["status"] == "succeeded"

    handle = temporal.get_workflow_handle(f"webhook-{created['id']}-succeeded")
    assert await handle.result() == 200
    assert len(receiver.requests) == 2  # the 500, then the 200

    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert [(a.attempt, a.last_failure.message) for a in started] == [(2, "webhook receiver answered 500")]
    secret = (await http.get("/api/v1/webhooks/secret")).json()["secret"]
    text = _readable(history)
    assert receiver.url in text  # the payloads were decoded: the check below can fail
    assert secret not in text and "whsec_" not in text  # the activity looks it up: no event carries it
    await assert_replays(history, "deliver_webhook_succeeded")

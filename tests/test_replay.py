"""Replay: committed histories must replay against the current workflow code.

A failure here means a workflow change is not deterministic for tasks already running:
guard it with `workflow.patched` or ship it under a new Worker Deployment version.
To refresh the committed histories, run this file with STUDIO_RECORD_HISTORIES=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from gemini_emulator import EmulatorServer
from studio.replay import fetch_history, load_history, replay_history
from tests.helpers import create_project, create_task, wait_for_task

HISTORIES = Path(__file__).parent / "histories"
COMMITTED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    assert len(COMMITTED) >= 2, "tests/histories/ must hold the recorded histories"


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

    history = await fetch_history(temporal, created["workflow_id"])
    result = await replay_history(history)

    assert result.replay_failure is None, result.replay_failure
    if os.environ.get("STUDIO_RECORD_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text(history.to_json())

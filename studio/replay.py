"""Replay recorded workflow histories against the current workflow code.

A replay that raises means the code is no longer deterministic for that history: a change that
would break running tasks. Used by `studio replay` and by the test suite on committed histories.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult

from workflows.registry import WORKFLOWS


def replayer() -> Replayer:
    """A replayer with every workflow and the pydantic data converter."""
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


async def replay_history(history: WorkflowHistory) -> WorkflowReplayResult:
    """Replay one history; the result's `replay_failure` is None when deterministic."""
    return await replayer().replay_workflow(history, raise_on_replay_failure=False)


async def fetch_history(client: Client, workflow_id: str) -> WorkflowHistory:
    """The full history of the latest run of `workflow_id`."""
    return await client.get_workflow_handle(workflow_id).fetch_history()


def load_history(path: Path, workflow_id: str | None = None) -> WorkflowHistory:
    """A history saved as JSON (the format of the UI's and the CLI's export)."""
    return WorkflowHistory.from_json(workflow_id or path.stem, path.read_text())

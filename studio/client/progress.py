"""Follow a task's Server-Sent Events with a rich progress bar until the task ends."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from studio.client.api import StudioApi, Unreachable

TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}
DONE_STATES = {"succeeded", "failed"}
RECONNECTS = 5  # a broken stream is resumed (Last-Event-ID) this many times in a row at most


def describe(view: dict[str, Any]) -> str:
    """One line for the bar: the status or stage, and a retry in progress with its reason."""
    status = view.get("status", "?")
    text = str(view.get("stage") or status) if status == "running" else str(status)
    for variation in view.get("variations") or []:
        retry = variation.get("retry")
        if retry and variation.get("state") not in DONE_STATES:
            return f"{text} (variation {variation['index']}: retry {retry['attempt']}, {retry['code']})"
    return text


def follow(api: StudioApi, task: dict[str, Any], console: Console) -> dict[str, Any]:
    """Show the task's progress (one step per variation delivered or failed) from its event
    stream until it is terminal, resuming a broken stream; returns the final task view.

    Raises Unreachable when the stream cannot be resumed, ApiError when it is refused."""
    total = int(task.get("parameters", {}).get("n") or len(task.get("variations") or []) or 1)
    view = task
    last_id: str | None = None
    failures = 0
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[name]}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(describe(view), total=total, name=str(task.get("name", "task")))
        while view.get("status") not in TERMINAL:
            try:
                for event, data, event_id in api.events(str(task["id"]), last_id):
                    failures = 0
                    if event == "status":
                        view, last_id = json.loads(data), event_id or last_id
                        done = sum(1 for v in view.get("variations") or [] if v.get("state") in DONE_STATES)
                        progress.update(bar, completed=done, description=describe(view))
                    elif event == "end":
                        break
                if view.get("status") not in TERMINAL:  # the stream closed early: ask once
                    view = api.task(str(task["id"]))
            except Unreachable:
                failures += 1
                if failures > RECONNECTS:
                    raise
                time.sleep(min(2.0**failures, 10.0))
        done = sum(1 for v in view.get("variations") or [] if v.get("state") in DONE_STATES)
        progress.update(bar, completed=max(done, total if view["status"] == "succeeded" else done))
        progress.update(bar, description=describe(view))
    return view

"""Logging setup: JSON lines (python-json-logger) carrying task_id and workflow_id, or text.

Temporal's `activity.logger` and `workflow.logger` attach a `temporal_activity` /
`temporal_workflow` dict to each record; `TemporalContextFilter` lifts the workflow id out of
it and derives the task id (`task-<uuid>` -> `<uuid>`), so every line can be filtered by task.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter


class TemporalContextFilter(logging.Filter):
    """Adds `workflow_id` and `task_id` to records logged inside workflows and activities."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        workflow_id = getattr(record, "workflow_id", None) or (context or {}).get("workflow_id")
        if workflow_id:
            record.workflow_id = workflow_id
            if not getattr(record, "task_id", None) and str(workflow_id).startswith("task-"):
                record.task_id = str(workflow_id).removeprefix("task-")
        return True


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time, level, logger, message and any extras."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure_logging(level: str, fmt: Literal["json", "text"]) -> None:
    """Root logging to stderr in `fmt`, at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TemporalContextFilter())
    if fmt == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

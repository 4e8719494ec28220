"""Invariants checked after every scenario, from the sources of truth (Postgres, S3, Temporal)."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from clients.object_store import ObjectStore
from clients.settings import Settings
from db.models import RenderedAsset, Task
from tests.chaos.driver import TERMINAL
from tests.chaos.harness import ChaosEnv


@dataclass
class Report:
    """One scenario's figures. lost, duplicates, orphans and bad_objects must be 0."""

    scenario: str
    tasks: int = 0
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicates: int = 0
    orphans: int = 0
    bad_objects: int = 0
    images: int = 0
    model_calls: int = 0
    recovery_s: float = 0.0
    http_500: int = 0
    http_503: int = 0
    unexpected: int = 0  # tasks whose outcome differs from the scenario's expectation
    notes: list[str] = field(default_factory=list)

    @property
    def calls_per_image(self) -> float:
        return self.model_calls / self.images if self.images else 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicates or self.orphans or self.bad_objects or self.http_500 or self.unexpected
        )


async def check(env: ChaosEnv, report: Report, project_id: str, views: dict[str, dict], token: str) -> Report:
    """Fill `report` from the final task views and the stores; see the issue's invariant list."""
    assert env.sessions is not None and env.stack.endpoints is not None
    report.tasks = len(views)
    for view in views.values():
        if view["status"] not in TERMINAL:
            report.lost += 1
        elif view["status"] == "succeeded":
            report.succeeded += 1
        else:
            report.failed[(view.get("error") or {}).get("code") or view["status"]] += 1

    async with env.sessions() as session:
        task_count = (
            await session.execute(select(func.count()).where(Task.project_id == uuid.UUID(project_id)))
        ).scalar_one()
        rows = list(
            (
                await session.execute(select(RenderedAsset).where(RenderedAsset.project_id == uuid.UUID(project_id)))
            ).scalars()
        )
    report.lost += max(0, len(views) - task_count)
    per_variation = Counter((row.task_id, row.variation_index) for row in rows)
    report.duplicates += sum(count - 1 for count in per_variation.values())
    report.images = len(rows)

    # One workflow per task: every run of the project's workflows, counted per workflow id.
    temporal = await _temporal(env)
    runs = Counter([wf.id async for wf in temporal.list_workflows(f"ProjectId = '{project_id}'")])
    report.duplicates += sum(count - 1 for count in runs.values())
    report.lost += sum(1 for task_id in views if f"task-{task_id}" not in runs)

    settings = Settings(
        _env_file=None,
        s3_endpoint_url=env.stack.endpoints.s3_endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    async with ObjectStore.open(settings) as store:
        keys = set(await store.list_keys(f"projects/{project_id}/")) | set(
            await store.list_keys(f"staging/projects/{project_id}/")
        )
        for row in rows:
            if row.file_key not in keys or (row.thumbnail_key is not None and row.thumbnail_key not in keys):
                report.bad_objects += 1
                continue
            if hashlib.sha256(await store.get(row.file_key)).hexdigest() != row.sha256:
                report.bad_objects += 1
    report.orphans = len(keys - {row.file_key for row in rows} - {row.thumbnail_key for row in rows})
    report.model_calls = len(env.emulator.calls(token))
    return report


async def _temporal(env: ChaosEnv) -> Client:
    assert env.stack.endpoints is not None
    return await Client.connect(env.stack.endpoints.temporal_address, data_converter=pydantic_data_converter)

"""What a client does in a scenario: submit tasks (retrying safely), probe the API, wait."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated"}


@dataclass
class Probe:
    """HTTP status codes the API answered while a fault was on (500 must never appear)."""

    codes: Counter[int] = field(default_factory=Counter)
    unreachable: int = 0


async def submit(client: httpx.AsyncClient, project_id: str, prompt: str, key: str, n: int = 1) -> str:
    """POST a task with an Idempotency-Key, retrying through 503s and a dead API until accepted."""
    body = {"name": key, "prompt": prompt, "n": n}
    while True:
        try:
            response = await client.post(
                f"/api/v1/projects/{project_id}/tasks", json=body, headers={"Idempotency-Key": key}
            )
            if response.status_code in (200, 202):
                return str(response.json()["id"])
            if response.status_code not in (429, 503):
                raise AssertionError(f"task creation answered {response.status_code}: {response.text}")
            await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))
            continue
        except httpx.TransportError:
            pass  # the API is down: retry with the same key
        await asyncio.sleep(0.3)


async def create_project(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/api/v1/projects", json={"name": name})
    response.raise_for_status()
    return str(response.json()["id"])


async def probe_while(client: httpx.AsyncClient, project_id: str, stop: asyncio.Event, probe: Probe) -> None:
    """Hit reads and /readyz every 0.3 s until `stop`; record what came back."""
    while not stop.is_set():
        for path in (f"/api/v1/projects/{project_id}/tasks?limit=5", "/readyz"):
            try:
                probe.codes[(await client.get(path)).status_code] += 1
            except httpx.TransportError:
                probe.unreachable += 1
        await asyncio.sleep(0.3)


async def wait_terminal(client: httpx.AsyncClient, task_ids: list[str], timeout_s: float) -> dict[str, dict]:
    """Poll each task until all are terminal or `timeout_s` passes; returns the last views."""
    deadline = time.monotonic() + timeout_s
    views: dict[str, dict] = {}
    pending = set(task_ids)
    while pending and time.monotonic() < deadline:
        for task_id in list(pending):
            try:
                response = await client.get(f"/api/v1/tasks/{task_id}")
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                views[task_id] = response.json()
                if views[task_id]["status"] in TERMINAL:
                    pending.discard(task_id)
        if pending:
            await asyncio.sleep(0.5)
    return views

"""What a client of the service does in a scenario: create projects and tasks (in batches when
the API offers `POST /projects/{id}/tasks:batch`, else one by one at a concurrency of 20), wait
for the tasks' workflows to close (read from Temporal, the source of truth), time reads."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from db.models import RenderedAsset
from tests.bench.env import BenchEnv

BATCH_PATH = "/api/v1/projects/{project_id}/tasks:batch"
SINGLE_CONCURRENCY = 20
BATCH_CONCURRENCY = 4
DEFAULT_BATCH_SIZE = 100


@dataclass(frozen=True)
class BatchSpec:
    """How the batch endpoint takes tasks: a bare JSON array, or an array under `field`, of at
    most `max_items`; `item_key` names an item's own idempotency key when items have one."""

    field: str | None
    max_items: int
    item_key: str | None = None


@dataclass
class Intake:
    ids: list[str]
    started: float  # Unix time of the first request
    finished: float  # Unix time the last one was answered
    method: str
    refused: Counter[int] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.ids) / max(1e-9, self.finished - self.started)


@dataclass
class Closed:
    """Where a project's workflows stand: how many closed (by status), the last close time."""

    total: int
    closed: int
    statuses: Counter[str]
    last_close: float | None  # Unix time
    close_times: dict[str, float]  # workflow id -> Unix time


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


async def batch_endpoint(client: httpx.AsyncClient) -> BatchSpec | None:
    """The batch creation endpoint's shape, read from /openapi.json; None when there is none."""
    spec = (await client.get("/openapi.json")).json()
    operation = spec.get("paths", {}).get(BATCH_PATH, {}).get("post")
    if operation is None:
        return None
    schema = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    if schema.get("type") == "array":
        return BatchSpec(None, int(schema.get("maxItems", DEFAULT_BATCH_SIZE)), _item_key(schema))
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(spec, prop)
        if prop.get("type") == "array":
            return BatchSpec(name, int(prop.get("maxItems", DEFAULT_BATCH_SIZE)), _item_key(prop))
    return None


def _item_key(array: dict[str, Any]) -> str | None:
    properties = array.get("items", {}).get("properties", {})
    return next((name for name in properties if "idempotency" in name.lower()), None)


def _batch_outcomes(body: Any) -> list[tuple[int, str | None]]:
    """(status, task id) per item of a batch answer, in order: the first list in it, whose items
    are tasks (with an "id") or results (with a "status" and a "task")."""
    items = body if isinstance(body, list) else next((v for v in body.values() if isinstance(v, list)), [])
    outcomes: list[tuple[int, str | None]] = []
    for item in sorted(items, key=lambda i: i.get("index", 0) if isinstance(i, dict) else 0):
        task = item.get("task") if isinstance(item.get("task"), dict) else item
        task_id = task.get("id") if isinstance(task, dict) else None
        outcomes.append((int(item.get("status", 202 if task_id else 500)), str(task_id) if task_id else None))
    return outcomes


async def create_project(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/api/v1/projects", json={"name": name})
    response.raise_for_status()
    return str(response.json()["id"])


def task_bodies(tag: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """`count` task bodies whose prompts carry `tag` (no trailing dot: the template strips it)."""
    return [{"name": f"{tag} {i}", "prompt": f"{tag} t{i:05d}x", **params} for i in range(count)]


async def _post_until_accepted(
    client: httpx.AsyncClient, path: str, json: Any, key: str, refused: Counter[int]
) -> httpx.Response:
    """POST with an Idempotency-Key, retrying (same key) through 429/503 and dropped connections."""
    while True:
        try:
            response = await client.post(path, json=json, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            refused[0] += 1
            await asyncio.sleep(0.5)
            continue
        if response.status_code in (200, 201, 202, 207):
            return response
        refused[response.status_code] += 1
        if response.status_code not in (429, 503):
            raise AssertionError(f"{path} answered {response.status_code}: {response.text[:500]}")
        await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))


async def create_tasks(
    client: httpx.AsyncClient, project_id: str, bodies: list[dict[str, Any]], batch: BatchSpec | None
) -> Intake:
    """Create every task of `bodies`; returns their ids in order and the time it took."""
    run = uuid.uuid4().hex[:8]
    refused: Counter[int] = Counter()
    started = time.time()
    if batch is not None:
        size = max(1, batch.max_items)
        keyed = [{**b, batch.item_key: f"{run}-{i}"} if batch.item_key else b for i, b in enumerate(bodies)]
        ids = ["" for _ in bodies]
        semaphore = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def send(first: int) -> None:
            todo = list(range(first, min(first + size, len(bodies))))
            attempt = 0
            while todo:
                chunk = [keyed[i] for i in todo]
                payload: Any = chunk if batch.field is None else {batch.field: chunk}
                async with semaphore:
                    response = await _post_until_accepted(
                        client, BATCH_PATH.format(project_id=project_id), payload, f"{run}-b{first}-{attempt}", refused
                    )
                outcomes = _batch_outcomes(response.json())
                if len(outcomes) != len(todo):
                    raise AssertionError(
                        f"a batch of {len(todo)} answered {len(outcomes)} items: {response.text[:500]}"
                    )
                retry = []
                for index, (status, task_id) in zip(todo, outcomes, strict=True):
                    if 200 <= status < 300 and task_id:
                        ids[index] = task_id
                    elif status in (429, 503):
                        refused[status] += 1
                        retry.append(index)
                    else:
                        raise AssertionError(f"batch item {index} answered {status}: {response.text[:500]}")
                todo, attempt = retry, attempt + 1
                if todo:
                    await asyncio.sleep(1.0)

        await asyncio.gather(*(send(i) for i in range(0, len(bodies), size)))
        method = f"POST tasks:batch ({size} per request, {BATCH_CONCURRENCY} at a time)"
    else:
        ids = ["" for _ in bodies]
        queue = list(range(len(bodies)))

        async def worker() -> None:
            while queue:
                index = queue.pop(0)
                response = await _post_until_accepted(
                    client, f"/api/v1/projects/{project_id}/tasks", bodies[index], f"{run}-{index}", refused
                )
                ids[index] = str(response.json()["id"])

        await asyncio.gather(*(worker() for _ in range(SINGLE_CONCURRENCY)))
        method = f"POST tasks one by one ({SINGLE_CONCURRENCY} at a time)"
    finished = time.time()
    if not all(ids):
        raise AssertionError(f"{ids.count('')} of {len(ids)} creations gave no task id ({method})")
    return Intake(ids=ids, started=started, finished=finished, method=method, refused=refused)


async def closed_workflows(
    env: BenchEnv, project_id: str, expected: int, timeout_s: float, stall_s: float | None = None
) -> Closed:
    """Poll Temporal visibility until `expected` workflows of the project are closed, or
    `timeout_s` passes, or (with `stall_s`) none closed for `stall_s` seconds (a broken service
    should not hold the benchmark for its whole timeout); then read their close times."""
    temporal = await env.temporal()
    deadline = time.monotonic() + timeout_s
    query = f"ProjectId = '{project_id}' AND ExecutionStatus != 'Running'"
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = (await temporal.count_workflows(query)).count
        if count >= expected:
            break
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif stall_s is not None and time.monotonic() - last_change > stall_s:
            break
        await asyncio.sleep(0.5)
    statuses: Counter[str] = Counter()
    close_times: dict[str, float] = {}
    async for execution in temporal.list_workflows(f"ProjectId = '{project_id}'"):
        statuses[execution.status.name if execution.status else "UNKNOWN"] += 1
        if execution.close_time is not None:
            close_times[execution.id] = execution.close_time.timestamp()
    return Closed(
        total=sum(statuses.values()),
        closed=len(close_times),
        statuses=statuses,
        last_close=max(close_times.values()) if close_times else None,
        close_times=close_times,
    )


async def delivered_images(env: BenchEnv, project_id: str) -> int:
    """Rendered asset rows of the project (one per delivered image)."""
    assert env.sessions is not None
    async with env.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(RenderedAsset).where(RenderedAsset.project_id == uuid.UUID(project_id))
        )
    return int(count or 0)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100, nearest rank) of `values`; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Latencies:
    """Response times in seconds of reads, by kind; non-2xx answers counted apart."""

    times: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    def p(self, kind: str, q: float) -> float:
        return percentile(self.times.get(kind, []), q)


async def timed_get(client: httpx.AsyncClient, kind: str, path: str, out: Latencies) -> None:
    started = time.perf_counter()
    try:
        response = await client.get(path)
    except httpx.HTTPError:
        out.errors[kind] += 1
        return
    elapsed = time.perf_counter() - started
    if response.status_code == 200:
        out.times.setdefault(kind, []).append(elapsed)
    else:
        out.errors[f"{kind} {response.status_code}"] += 1


async def probe_reads(
    client: httpx.AsyncClient,
    reads: list[tuple[str, Callable[[], str]]],
    out: Latencies,
    stop: asyncio.Event | None = None,
    rounds: int | None = None,
    pause_s: float = 0.05,
) -> None:
    """One client reading in a loop, each (kind, path()) in turn, until `stop` is set or
    `rounds` rounds are done; one request at a time, so each time is one request's own."""
    done = 0
    while (stop is None or not stop.is_set()) and (rounds is None or done < rounds):
        for kind, path in reads:
            await timed_get(client, kind, path(), out)
        done += 1
        if pause_s:
            await asyncio.sleep(pause_s)


async def phase_breakdown(env: BenchEnv, project_id: str) -> str:
    """Where the (first) workflow of a project spent its time, from its history: seconds from
    its start to each activity's schedule, start and completion, e.g. `build_prompt 0.4/0.5/0.6,
    generate_image 0.7/3.1/5.2`: a queue wait shows as a gap between scheduled and started."""
    temporal = await env.temporal()
    async for execution in temporal.list_workflows(f"ProjectId = '{project_id}'", limit=1):
        history = await temporal.get_workflow_handle(execution.id).fetch_history()
        break
    else:
        return "no workflow"
    events = list(history.events)
    origin = events[0].event_time.ToDatetime().timestamp()
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    phases: list[str] = []
    for event in events:
        at = event.event_time.ToDatetime().timestamp() - origin
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, at)
        elif event.HasField("activity_task_started_event_attributes"):
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.HasField("activity_task_completed_event_attributes"):
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            name, at_scheduled = scheduled.get(sid, ("?", at))
            phases.append(f"{name} {at_scheduled:.1f}/{started.get(sid, at):.1f}/{at:.1f}")
    return ", ".join(phases) + f"; closed {events[-1].event_time.ToDatetime().timestamp() - origin:.1f}"

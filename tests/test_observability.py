"""Tracing, metrics and logs of one task, through the real services.

A dedicated worker and API are built here with an in-memory span exporter and a Prometheus
endpoint, the way `studio worker` / `studio api` build them from settings.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from clients.logs import TemporalContextFilter, json_formatter
from clients.settings import Settings
from clients.telemetry import temporal_interceptors, worker_runtime
from clients.temporal_client import connect
from db.session import SessionFactory
from db.users import create_user
from gemini_emulator import EmulatorServer
from studio.localstack.ports import free_port
from studio.worker import render_worker
from tests.helpers import create_project, create_task, wait_for_task


@dataclass
class Observed:
    http: httpx.AsyncClient
    spans: InMemorySpanExporter
    worker_metrics_url: str
    logs: io.StringIO


@pytest.fixture(scope="module")
async def observed(settings: Settings, sessions: SessionFactory) -> AsyncIterator[Observed]:
    import asyncio

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics_port = free_port()
    local = settings.model_copy(
        update={"temporal_task_queue": f"observed-{uuid.uuid4()}", "worker_metrics_bind": f"127.0.0.1:{metrics_port}"}
    )
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.addFilter(TemporalContextFilter())
    handler.setFormatter(json_formatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger("temporalio").setLevel(logging.INFO)

    client = await connect(local, interceptors=temporal_interceptors(provider), runtime=worker_runtime(local))
    app = create_app(local, tracer_provider=provider)
    async with sessions() as session:
        _, key = await create_user(session, "observer")
        await session.commit()
    async with render_worker(client, local) as worker, app.router.lifespan_context(app):
        running = asyncio.create_task(worker.run())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"Authorization": f"Bearer {key}"}
        ) as http:
            yield Observed(http, exporter, f"http://127.0.0.1:{metrics_port}/metrics", logs)
        await worker.shutdown()
        await running
    logging.getLogger().removeHandler(handler)


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matches = [s for s in spans if s.name == name]
    assert len(matches) == 1, (name, [s.name for s in spans])
    return matches[0]


def _parent(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    return next(s for s in spans if s.context.span_id == span.parent.span_id)


async def test_one_trace_from_http_request_to_every_activity(observed: Observed, token: str) -> None:
    project_id = await create_project(observed.http)
    created = await create_task(observed.http, project_id, prompt=f"traced {token}")
    await wait_for_task(observed.http, created["id"])

    trace_ids = {s.context.trace_id for s in observed.spans.get_finished_spans() if s.name.startswith("StartWorkflow")}
    spans = [s for s in observed.spans.get_finished_spans() if s.context.trace_id in trace_ids]
    http = _one(spans, "POST /api/v1/projects/{project_id}/tasks")
    start = _one(spans, "StartWorkflow:RenderTaskWorkflow")
    run = _one(spans, "RunWorkflow:RenderTaskWorkflow")
    # temporalio's TracingInterceptor hangs workflow-side spans under the client's
    # StartWorkflow span: HTTP -> StartWorkflow -> {RunWorkflow, StartActivity:x -> RunActivity:x}.
    assert _parent(start, spans) is http
    assert _parent(run, spans) is start
    assert _parent(_one(spans, "CompleteWorkflow:RenderTaskWorkflow"), spans) is start
    for activity in ("ensure_task_row", "build_prompt", "generate_image", "publish_image", "record_assets"):
        scheduled = _one(spans, f"StartActivity:{activity}")
        executed = _one(spans, f"RunActivity:{activity}")
        assert _parent(scheduled, spans) is start
        assert _parent(executed, spans) is scheduled
        assert executed.end_time is not None and executed.start_time is not None
    generate = _one(spans, "RunActivity:generate_image")
    assert generate.end_time - generate.start_time > 0  # type: ignore[operator]


async def test_worker_and_api_metrics_expose_the_named_series(
    observed: Observed, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(f"blocked {token}", [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    emulator.script(f"limited {token}", [{"kind": "rate_limit", "retry_delay_s": 1}])
    project_id = await create_project(observed.http)
    for prompt in (f"fine {token}", f"blocked {token}", f"limited {token}"):
        created = await create_task(observed.http, project_id, prompt=prompt)
        await wait_for_task(observed.http, created["id"])

    async with httpx.AsyncClient() as scraper:
        worker = (await scraper.get(observed.worker_metrics_url)).text
    api = (await observed.http.get("/metrics")).text

    def value(series: str, *labels: str) -> float:
        lines = [ln for ln in worker.splitlines() if ln.startswith(series + "{") and all(x in ln for x in labels)]
        assert lines, (series, labels)
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)

    model = 'model="gemini-3-pro-image-preview"'
    assert value("render_model_calls_total", model) >= 4  # fine, blocked, limited twice
    assert value("render_images_generated_total", model) >= 2
    assert value("render_bytes_stored_total") > 100_000
    assert value("render_blocked_total", model, 'reason="IMAGE_SAFETY"') >= 1
    assert value("render_model_errors_total", 'error_code="rate_limited"', 'retryable="true"') >= 1
    assert value("render_model_errors_total", 'error_code="content_blocked"', 'retryable="false"') >= 1
    assert "temporal_activity_execution_latency" in worker
    assert "temporal_workflow_completed" in worker
    assert 'http_requests_total{handler="/api/v1/projects/{project_id}/tasks",method="POST",status="2xx"}' in api
    assert "http_request_duration_seconds_bucket" in api


async def test_logs_are_json_lines_with_task_and_workflow_ids(observed: Observed, token: str) -> None:
    project_id = await create_project(observed.http)
    created = await create_task(observed.http, project_id, prompt=f"logged {token}")
    await wait_for_task(observed.http, created["id"])

    lines = [json.loads(line) for line in observed.logs.getvalue().splitlines() if line.startswith("{")]
    staged = [
        line
        for line in lines
        if line.get("message", "").startswith("image staged") and line.get("task_id") == created["id"]
    ]
    assert staged, lines[-5:]
    assert staged[0]["workflow_id"] == created["workflow_id"]
    assert staged[0]["level"] == "INFO"


async def _scrape(observed: Observed) -> str:
    async with httpx.AsyncClient() as scraper:
        return (await scraper.get(observed.worker_metrics_url)).text


def _sample(metrics: str, series: str, *labels: str) -> float | None:
    """The sum of `series`'s samples whose line holds every one of `labels`; None when none does."""
    lines = [ln for ln in metrics.splitlines() if ln.startswith(series + "{") and all(x in ln for x in labels)]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines) if lines else None


async def test_queue_wait_per_project_and_model_calls_in_flight(
    observed: Observed, emulator: EmulatorServer, token: str
) -> None:
    import asyncio

    emulator.script(f"slow {token}", [{"kind": "ok", "latency_s": 3}])
    project_id = await create_project(observed.http)
    created = await create_task(observed.http, project_id, prompt=f"slow {token}")
    deadline = time.monotonic() + 30
    while not emulator.calls(f"slow {token}"):  # the model call has reached the emulator
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    model = 'model="gemini-3-pro-image-preview"'
    during = await _scrape(observed)
    assert _sample(during, "render_model_calls_in_flight", model, "-model-") == 1, during
    await wait_for_task(observed.http, created["id"])

    after = await _scrape(observed)
    assert _sample(after, "render_model_calls_in_flight", model, "-model-") == 0
    project = f'project="{project_id}"'
    # One generate_image attempt for the task's one variation: one observation of its wait.
    assert _sample(after, "render_queue_wait_seconds_count", model, project) == 1, after
    waited_s = _sample(after, "render_queue_wait_seconds_sum", model, project)
    assert waited_s is not None and 0 <= waited_s < 30
    # Buckets in seconds (the SDK's default ones are for milliseconds, 50 and up).
    assert _sample(after, "render_queue_wait_seconds_bucket", project, 'le="30"') == 1


async def test_429s_are_counted_by_googles_quota_id(observed: Observed, emulator: EmulatorServer, token: str) -> None:
    quota_id = 'quota_id="GenerateRequestsPerMinutePerProjectPerModel"'
    before = _sample(await _scrape(observed), "render_quota_429_total", 'quota="per_minute"', quota_id) or 0
    emulator.script(f"quota {token}", [{"kind": "rate_limit", "retry_delay_s": 1}])
    project_id = await create_project(observed.http)
    created = await create_task(observed.http, project_id, prompt=f"quota {token}")
    task = await wait_for_task(observed.http, created["id"])
    assert task["status"] == "succeeded", task  # the retry after the 429 delivered

    after = await _scrape(observed)
    model = 'model="gemini-3-pro-image-preview"'
    assert _sample(after, "render_quota_429_total", model, 'quota="per_minute"', quota_id) == before + 1, after

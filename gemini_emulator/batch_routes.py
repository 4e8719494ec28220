"""HTTP routes of the Batch API (shapes in batches.py) and its /_emulator/ controls.

- `create_batch` answers `POST /{v}/models/{model}:batchGenerateContent` (called by app.py's
  models route); every inline request is validated like a single call (400 INVALID_ARGUMENT
  naming the request's index); a `fileName` source is refused (400: the emulator has no Files API).
- GET /{v}/batches, GET /{v}/batches/{id}, POST /{v}/batches/{id}:cancel, DELETE /{v}/batches/{id}:
  403 without an API key, 404 for a job that is not the caller's.

Controls:
- POST /_emulator/batch_scripts `BatchScript` -> 201 `{"match", "outcome"}`
- GET  /_emulator/batch_stats?api_key=<key> -> `{"jobs_created", "items_billed", "cancels"}`
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .batches import DEFAULT_PAGE_SIZE, BatchItem, BatchJob, BatchScript, BatchStore, operation_body
from .error_bodies import GeminiError, invalid_argument, not_found, permission_denied
from .quota import EmulatorConfig, key_fingerprint
from .scripts import ScriptRegistry
from .validation import parse_request

router = APIRouter()
control_router = APIRouter(prefix="/_emulator", tags=["emulator control"])


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code, media_type="application/json")


def _store(request: Request) -> BatchStore:
    store: BatchStore = request.app.state.batches
    return store


def _caller(request: Request) -> str:
    """The API key's fingerprint; raises GeminiError 403 without one."""
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        raise permission_denied()
    return key_fingerprint(key)


def _items(model: str, body: object) -> tuple[str, list[BatchItem]]:
    """(displayName, validated items) of a create body; raises GeminiError 400."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise invalid_argument("* BatchGenerateContentRequest.batch: batch is required")
    display_name = batch.get("displayName", batch.get("display_name"))
    if not isinstance(display_name, str) or not display_name:
        raise invalid_argument("* GenerateContentBatch.display_name: display_name is required")
    config = batch.get("inputConfig", batch.get("input_config"))
    if isinstance(config, dict) and ("fileName" in config or "file_name" in config):
        raise invalid_argument("input_config.file_name is not supported by the emulator; send inline requests")
    container = config.get("requests") if isinstance(config, dict) else None
    requests = container.get("requests") if isinstance(container, dict) else None
    if not isinstance(requests, list) or not requests:
        raise invalid_argument("* GenerateContentBatch.input_config.requests: requests must not be empty")
    items = []
    for index, entry in enumerate(requests):
        inner = entry.get("request") if isinstance(entry, dict) else None
        try:
            parsed = parse_request(model, inner)
        except GeminiError as error:
            raise invalid_argument(f"requests[{index}]: {error.message}") from None
        metadata = entry.get("metadata")
        items.append(BatchItem(parsed, metadata if isinstance(metadata, dict) else None))
    return display_name, items


# Google refuses a batch job whose inline requests pass 20 MiB (400 INVALID_ARGUMENT with this
# message; the Batch API docs: inline requests "under 20MB").
INLINE_REQUEST_LIMIT_BYTES = 20 * 1024 * 1024


async def create_batch(request: Request, model: str, body: object, key: str) -> Response:
    """POST models/{model}:batchGenerateContent for a known `model` and key fingerprint `key`."""
    config: EmulatorConfig = request.app.state.config
    if int(request.headers.get("content-length") or 0) > INLINE_REQUEST_LIMIT_BYTES:
        error = invalid_argument(f"Request payload size exceeds the limit: {INLINE_REQUEST_LIMIT_BYTES} bytes.")
        return _json(error.body(), error.code)
    try:
        display_name, items = await asyncio.to_thread(_items, model, body)
    except GeminiError as error:
        return _json(error.body(), error.code)
    job = _store(request).create(model, display_name, key, items, config.batch_turnaround_s)
    return _json(operation_body(job))


async def _current(request: Request, job: BatchJob) -> BatchJob:
    """`job` moved along its clock; finishes it (in a thread) when it is due."""
    store = _store(request)
    if store.advance(job):
        registry: ScriptRegistry = request.app.state.registry
        config: EmulatorConfig = request.app.state.config
        await asyncio.to_thread(store.finish, job, registry, config.realistic_bytes)
    return job


def _job(request: Request, batch_id: str) -> BatchJob:
    job = _store(request).find(f"batches/{batch_id}", _caller(request))
    if job is None:
        raise not_found(f"Batch batches/{batch_id} not found.")
    return job


@router.get("/{api_version}/batches/{batch_id}")
async def get_batch(api_version: str, batch_id: str, request: Request) -> Response:
    """The job's Operation (its output once it succeeded)."""
    try:
        job = await _current(request, _job(request, batch_id))
    except GeminiError as error:
        return _json(error.body(), error.code)
    return _json(operation_body(job))


@router.post("/{api_version}/batches/{batch_action}")
async def cancel_batch(api_version: str, batch_action: str, request: Request) -> Response:
    """`batches/{id}:cancel` -> {} (a finished job is left as it is)."""
    batch_id, _, action = batch_action.partition(":")
    try:
        if action != "cancel":
            raise not_found(f"Method {action or '(none)'} is not found for batches.")
        job = await _current(request, _job(request, batch_id))
    except GeminiError as error:
        return _json(error.body(), error.code)
    _store(request).cancel(job)
    return _json({})


@router.delete("/{api_version}/batches/{batch_id}")
async def delete_batch(api_version: str, batch_id: str, request: Request) -> Response:
    """Forget the job -> {}."""
    try:
        job = _job(request, batch_id)
    except GeminiError as error:
        return _json(error.body(), error.code)
    _store(request).delete(job)
    return _json({})


@router.get("/{api_version}/batches")
async def list_batches(api_version: str, request: Request) -> Response:
    """The caller's jobs, newest first, `pageSize` per page (default 50), `pageToken` = offset."""
    try:
        key = _caller(request)
        size = int(request.query_params.get("pageSize") or DEFAULT_PAGE_SIZE)
        start = int(request.query_params.get("pageToken") or 0)
    except GeminiError as error:
        return _json(error.body(), error.code)
    except ValueError:
        bad_page = invalid_argument("pageSize and pageToken must be integers")
        return _json(bad_page.body(), bad_page.code)
    jobs = _store(request).list(key)
    page = [await _current(request, job) for job in jobs[start : start + max(1, size)]]
    body: dict[str, Any] = {"operations": [operation_body(job) for job in page]}
    if start + len(page) < len(jobs):
        body["nextPageToken"] = str(start + len(page))
    return _json(body)


@control_router.post("/batch_scripts", status_code=201)
async def add_batch_script(script: BatchScript, request: Request) -> dict[str, Any]:
    """The next job with a request whose prompt contains `match` ends as `outcome`."""
    _store(request).add_script(script)
    return {"match": script.match, "outcome": script.outcome}


@control_router.get("/batch_stats")
async def batch_stats(request: Request, api_key: str | None = None) -> dict[str, int]:
    """Jobs created, items billed and cancels (of `api_key`, or of every key)."""
    return _store(request).stats(key_fingerprint(api_key) if api_key is not None else None)

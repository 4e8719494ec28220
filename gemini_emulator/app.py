"""The FastAPI app: Gemini's `POST /{v1,v1beta}/models/{model}:generateContent` plus controls.

Order of checks mirrors Google's API (GEMINI.md): API key (header `x-goog-api-key` or `?key=`,
else 403 PERMISSION_DENIED), then model and method (404 NOT_FOUND), then the body (400
INVALID_ARGUMENT). A valid call then passes the configured quota (quota.py: 429
RESOURCE_EXHAUSTED with RetryInfo past it, per API key and model), and takes its outcome from
the script registry (see scripts.py) or succeeds after the configured latency. Every call,
failed or not, is logged before answering.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.catalog import MODELS

from . import responses
from .batch_routes import control_router as batch_control_router
from .batch_routes import create_batch
from .batch_routes import router as batch_router
from .batches import BatchStore
from .control import router as control_router
from .error_bodies import (
    GeminiError,
    invalid_argument,
    not_found,
    permission_denied,
    rate_limited,
    server_error,
)
from .quota import EmulatorConfig, SlidingWindowQuota, key_fingerprint
from .scripts import (
    QUOTA_EXCEEDED,
    BadBase64Outcome,
    FinishBlockOutcome,
    HangOutcome,
    NoImageOutcome,
    NotImageOutcome,
    OkOutcome,
    Outcome,
    PromptBlockOutcome,
    RateLimitOutcome,
    ScriptRegistry,
    ServerErrorOutcome,
)
from .validation import ImageRequest, parse_request, prompt_text

API_VERSIONS = ("v1", "v1beta")
LATENCY_ENV = "GEMINI_EMULATOR_LATENCY_S"
_ACTIONS = ("generateContent", "batchGenerateContent")
_HTTP_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status_code, media_type="application/json")


def _success(
    request: ImageRequest, mime: str, corrupt: responses.Corruption | None, realistic: bool = False
) -> Response:
    return _json(responses.success_body(request, mime, corrupt, realistic))


async def _answer(request: ImageRequest, outcome: Outcome, realistic: bool) -> Response:
    """Sleep `outcome.latency_s`, then answer as `outcome` says (`realistic`: images of a real
    model's size). Raises GeminiError."""
    if outcome.latency_s:
        await asyncio.sleep(outcome.latency_s)
    match outcome:
        case RateLimitOutcome():
            raise rate_limited(request.model, outcome.retry_delay_s, outcome.per_day)
        case ServerErrorOutcome():
            raise server_error(outcome.code)
        case PromptBlockOutcome():
            return _json(responses.prompt_block_body(request, outcome.reason))
        case FinishBlockOutcome():
            return _json(responses.text_only_body(request, outcome.reason, outcome.content))
        case NoImageOutcome():
            text = "I couldn't produce an image this time; here is a description instead."
            return _json(responses.text_only_body(request, outcome.reason, "text", text))
        case BadBase64Outcome() | NotImageOutcome():
            return await asyncio.to_thread(_success, request, "image/png", outcome.kind)
        case HangOutcome():
            await asyncio.sleep(outcome.seconds)
            return await asyncio.to_thread(_success, request, "image/png", None, realistic)
        case OkOutcome():
            return await asyncio.to_thread(_success, request, outcome.mime, None, realistic)
    raise AssertionError(f"unhandled outcome {outcome!r}")  # pragma: no cover


def _default_latency(value: float | None) -> float:
    if value is not None:
        return value
    return float(os.environ.get(LATENCY_ENV, "0") or 0)


def create_app(
    default_latency_s: float | None = None,
    *,
    quota_images_per_minute: int | None = None,
    quota_images_per_day: int | None = None,
    quota_window_s: float = 60.0,
    realistic_bytes: bool = False,
    batch_turnaround_s: float = 5.0,
) -> FastAPI:
    """Build the emulator app with its own ScriptRegistry at `app.state.registry`, its
    settings at `app.state.config` (an EmulatorConfig) and its quota at `app.state.quota`.

    `default_latency_s` (seconds) delays unscripted calls; None reads env
    GEMINI_EMULATOR_LATENCY_S (default 0). `quota_images_per_minute` calls are admitted per
    sliding `quota_window_s` (default 60 s) and `quota_images_per_day` per UTC day, per API
    key and model (None: no limit). `realistic_bytes` sends images of a real model's size
    (20 MB at 4K) instead of small synthetic ones. `batch_turnaround_s`: seconds a Batch API
    job takes (batches.py; its jobs at `app.state.batches`). All can change later (POST
    /_emulator/config).
    """
    app = FastAPI(title="Gemini image API emulator", docs_url="/_emulator/docs", redoc_url=None)
    app.state.registry = ScriptRegistry()
    config = EmulatorConfig(
        latency_s=_default_latency(default_latency_s),
        quota_images_per_minute=quota_images_per_minute,
        quota_images_per_day=quota_images_per_day,
        quota_window_s=quota_window_s,
        realistic_bytes=realistic_bytes,
        batch_turnaround_s=batch_turnaround_s,
    )
    app.state.config = config
    app.state.batches = BatchStore()
    app.state.quota = SlidingWindowQuota(config)
    app.include_router(control_router)
    app.include_router(batch_control_router)
    app.include_router(batch_router)

    @app.exception_handler(StarletteHTTPException)
    async def google_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        status = _HTTP_STATUS.get(exc.status_code, "FAILED_PRECONDITION")
        error = GeminiError(exc.status_code, status, str(exc.detail))
        return _json(error.body(), exc.status_code)

    @app.post("/{api_version}/models/{model_action}")
    async def generate_content(api_version: str, model_action: str, request: Request) -> Response:
        """Gemini generateContent (see module docstring for checks and outcomes)."""
        registry: ScriptRegistry = request.app.state.registry
        quota: SlidingWindowQuota = request.app.state.quota
        model, _, action = model_action.partition(":")
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        prompt = prompt_text(body)
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        fingerprint = key_fingerprint(key) if key else ""
        try:
            if not key:
                raise permission_denied()
            if api_version not in API_VERSIONS or model not in MODELS or action not in _ACTIONS:
                raise not_found(
                    f"models/{model} is not found for API version {api_version}, or is not "
                    f"supported for {action or 'generateContent'}. Call ListModels to see the "
                    "list of available models and their supported methods."
                )
            if body is None:
                raise invalid_argument("Invalid JSON payload received. Unexpected token.")
            if action == "batchGenerateContent":
                return await create_batch(request, model, body, fingerprint)
            parsed = await asyncio.to_thread(parse_request, model, body)
        except GeminiError as error:
            registry.record(model, prompt, error.status, key=fingerprint)
            return _json(error.body(), error.code)

        refusal = quota.admit(fingerprint, model)
        if refusal is not None:
            registry.record(model, prompt, QUOTA_EXCEEDED, parsed.reference_images, fingerprint)
            refused = rate_limited(model, refusal.retry_delay_s, refusal.per_day, refusal.limit)
            return _json(refused.body(), refused.code)
        outcome = registry.take(parsed.prompt) or OkOutcome(latency_s=config.latency_s)
        registry.record(model, prompt, outcome.kind, parsed.reference_images, fingerprint)
        try:
            return await _answer(parsed, outcome, config.realistic_bytes)
        except GeminiError as error:
            return _json(error.body(), error.code)

    return app

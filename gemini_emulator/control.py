"""Control endpoints under /_emulator/ that tests use to script outcomes and count calls.

- POST /_emulator/scripts  `{"match": str, "outcomes": [Outcome, ...]}` -> 201
  `{"match": str, "outcomes": int}`; a bad outcome -> 422 (FastAPI validation error).
- GET  /_emulator/scripts  -> `{"scripts": [{"match": str, "remaining": [kind, ...]}]}`
- GET  /_emulator/calls?match=<substring>&api_key=<key> -> `{"count": int, "calls": [CallRecord, ...]}`
- GET  /_emulator/stats?match=<substring>&api_key=<key> -> `{"calls", "ok", "rate_limited",
  "quota_exceeded", "outcomes": {outcome: count}}` (see ScriptRegistry.stats)
- GET  /_emulator/config   -> the EmulatorConfig (latency, quotas, realistic_bytes)
- POST /_emulator/config   `{field: value, ...}` -> the new EmulatorConfig; only the fields sent
  change (null lifts a quota); an unknown field or a bad value -> 422 and nothing changes.
- POST /_emulator/reset    -> `{"ok": true}`; clears scripts, the call log, the quota's
  windows and the Batch API's jobs, job scripts and counters (the config stays).
- Batch API controls (/_emulator/batch_scripts, /_emulator/batch_stats): see batch_routes.py.
- GET  /_emulator/health   -> `{"ok": true}`
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Body, Request
from fastapi.exceptions import RequestValidationError

from .quota import EmulatorConfig, SlidingWindowQuota, key_fingerprint
from .scripts import ScriptIn, ScriptRegistry

router = APIRouter(prefix="/_emulator", tags=["emulator control"])


def _registry(request: Request) -> ScriptRegistry:
    registry: ScriptRegistry = request.app.state.registry
    return registry


def _config(request: Request) -> EmulatorConfig:
    config: EmulatorConfig = request.app.state.config
    return config


def _key(api_key: str | None) -> str | None:
    return key_fingerprint(api_key) if api_key is not None else None


@router.post("/scripts", status_code=201)
async def add_script(script: ScriptIn, request: Request) -> dict[str, Any]:
    """Queue outcomes for the next calls whose prompt contains `match`."""
    _registry(request).add(script.match, script.outcomes)
    return {"match": script.match, "outcomes": len(script.outcomes)}


@router.get("/scripts")
async def list_scripts(request: Request) -> dict[str, Any]:
    """Scripts that still have outcomes queued."""
    return {"scripts": _registry(request).pending()}


@router.get("/calls")
async def list_calls(request: Request, match: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """Logged generateContent calls whose prompt contains `match` (all when omitted), made
    with `api_key` (any key when omitted)."""
    calls = _registry(request).calls(match, _key(api_key))
    return {"count": len(calls), "calls": [call.model_dump() for call in calls]}


@router.get("/stats")
async def call_stats(request: Request, match: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """Counts of the calls `/calls` would list: all, answered with an image, 429s."""
    return _registry(request).stats(match, _key(api_key))


@router.get("/config")
async def get_config(request: Request) -> EmulatorConfig:
    """The settings every call is subject to."""
    return _config(request)


@router.post("/config")
async def set_config(request: Request, changes: Annotated[dict[str, Any], Body()]) -> EmulatorConfig:
    """Change some settings (the fields sent); 422 and no change when one is invalid."""
    config = _config(request)
    try:
        config.update(changes)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return config


@router.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    """Clear every script, the call log and the quota's windows."""
    _registry(request).reset()
    quota: SlidingWindowQuota = request.app.state.quota
    quota.reset()
    request.app.state.batches.reset()
    return {"ok": True}


@router.get("/health")
async def health() -> dict[str, bool]:
    """Liveness probe for `make dev`."""
    return {"ok": True}

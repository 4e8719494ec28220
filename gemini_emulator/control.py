"""Control endpoints under /_emulator/ that tests use to script outcomes and count calls.

- POST /_emulator/scripts  `{"match": str, "outcomes": [Outcome, ...]}` -> 201
  `{"match": str, "outcomes": int}`; a bad outcome -> 422 (FastAPI validation error).
- GET  /_emulator/scripts  -> `{"scripts": [{"match": str, "remaining": [kind, ...]}]}`
- GET  /_emulator/calls?match=<substring> -> `{"count": int, "calls": [CallRecord, ...]}`
- POST /_emulator/reset    -> `{"ok": true}`; clears scripts and the call log.
- GET  /_emulator/health   -> `{"ok": true}`
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .scripts import ScriptIn, ScriptRegistry

router = APIRouter(prefix="/_emulator", tags=["emulator control"])


def _registry(request: Request) -> ScriptRegistry:
    registry: ScriptRegistry = request.app.state.registry
    return registry


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
async def list_calls(request: Request, match: str | None = None) -> dict[str, Any]:
    """Logged generateContent calls whose prompt contains `match` (all when omitted)."""
    calls = _registry(request).calls(match)
    return {"count": len(calls), "calls": [call.model_dump() for call in calls]}


@router.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    """Clear every script and the call log."""
    _registry(request).reset()
    return {"ok": True}


@router.get("/health")
async def health() -> dict[str, bool]:
    """Liveness probe for `make dev`."""
    return {"ok": True}

"""Liveness and readiness probes (outside /api/v1, unauthenticated)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ResourcesDep

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(probe: Awaitable[Any]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; reported, not raised
        return f"unavailable: {type(exc).__name__}: {exc}"[:300]
    return "ok"


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
async def readyz(resources: ResourcesDep) -> JSONResponse:
    """200 when Postgres, Temporal and S3 answer within 3 s each, else 503 with which failed."""

    async def postgres() -> None:
        async with resources.sessions() as session:
            await session.execute(text("SELECT 1"))

    checks = dict(
        zip(
            ("postgres", "temporal", "s3"),
            await asyncio.gather(
                _check(postgres()),
                _check(resources.temporal.service_client.check_health()),
                _check(resources.store.bucket_reachable()),
            ),
            strict=True,
        )
    )
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )

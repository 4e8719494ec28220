"""Application errors and the handlers that render every error as `{"error": {"code", "message"}}`.

Expected errors never surface as 500: bad input is a 4xx, a dependency outage is a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

from db.error_kinds import classify_db_error

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """`error` member of every error response."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Shape of every error response."""

    error: ErrorBody


class AppError(Exception):
    """An expected error with its HTTP status and stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_request"


class TooManyRequests(AppError):
    """429 with Retry-After (seconds)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        if code is not None:
            self.code = code


class DependencyUnavailable(AppError):
    status_code = 503
    code = "dependency_unavailable"


def _body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return ErrorResponse(error=ErrorBody(code=code, message=message, details=details)).model_dump(exclude_none=True)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses."""
    return {status: {"model": ErrorResponse} for status in statuses}


def validation_message(errors: Sequence[Any]) -> str:
    """`field.path: what is wrong` for the first of pydantic's errors."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first.get('msg', 'invalid input')}" if where else str(first.get("msg", "invalid input"))


def allowed_methods(request: Request) -> list[str]:
    """The HTTP methods some route of the app serves at the request's path."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "5"}}.get(exc.status_code)
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(_body(exc.code, exc.message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = validation_message(errors)
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
        return JSONResponse(_body("invalid_request", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110 section 15.5.6: Allow lists every method of the resource. Starlette names
            # only the first route that matched the path (GET and POST /projects are two routes).
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable during %s %s: %r", request.method, request.url.path, exc)
        which = (
            "database"
            if isinstance(exc, DBAPIError | OSError | PoolTimeoutError)
            else "temporal"
            if isinstance(exc, RPCError)
            else "storage"
        )
        return JSONResponse(
            _body("dependency_unavailable", f"{which} is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # An outage is a 503 the client should retry; bad data or a conflict is the client's to
        # fix and must not read as an outage (clients would retry it forever).
        info = classify_db_error(exc)
        if info.kind == "unavailable":
            return await _outage(request, exc)
        where = f" ({info.subject})" if info.subject else ""
        if info.kind == "invalid":
            return JSONResponse(_body("invalid_request", f"a value cannot be stored{where}: {info.message}"), 422)
        if info.kind == "conflict":
            return JSONResponse(_body("conflict", f"the change conflicts with stored data{where}: {info.message}"), 409)
        log.error("database error during %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_body("internal", "internal error"), status_code=500)

    async def _storage(request: Request, exc: Exception) -> JSONResponse:
        # S3 answered with an error: its 5xx and throttling are an outage (503); anything else
        # (403 from a wrong key or policy, a missing bucket) is our misconfiguration, a 500.
        status, code = storage_error_status(exc)
        if status >= 500 or code in STORAGE_THROTTLE_CODES:
            return await _outage(request, exc)
        log.error("S3 refused %s %s: %s %s", request.method, request.url.path, status, code, exc_info=exc)
        return JSONResponse(_body("internal", "internal error"), status_code=500)

    app.add_exception_handler(ClientError, _storage)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(PoolTimeoutError, _database)
    for exc_type in (ConnectionError, OSError, RPCError, BotoCoreError):
        app.add_exception_handler(exc_type, _outage)

    @app.exception_handler(RuntimeError)
    async def _runtime(request: Request, exc: RuntimeError) -> JSONResponse:
        # A lazily connected Temporal client reports an unreachable server as RuntimeError.
        if str(exc).startswith("Failed client connect"):
            return await _outage(request, RPCError(str(exc), RPCStatusCode.UNAVAILABLE, b""))
        log.exception("unexpected error during %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_body("internal", "internal error"), status_code=500)


# S3 error codes that mean "slow down and retry" (AWS S3 error responses reference).
STORAGE_THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"})


def storage_error_status(exc: Exception) -> tuple[int, str]:
    """(HTTP status, error code) of an S3 error answer (botocore ClientError); (0, "") for others."""
    if not isinstance(exc, ClientError):
        return 0, ""
    response = exc.response
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)), str(
        response.get("Error", {}).get("Code", "")
    )

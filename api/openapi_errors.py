"""Document in OpenAPI every error status an operation can answer, so the schema lists what
clients (and schemathesis) really see. Derived from the generated operation itself:

- 400: every operation (uvicorn's answer to a request it cannot parse, in the JSON envelope);
- 401, 429 (`auth_throttled`) and 503: operations that authenticate (every authenticated
  route reads Postgres, so an outage is a 503);
- 422: operations with parameters or a body;
- 413: operations with a body (api.body_limit).
Statuses a route declares itself (404, 409, 503 of unauthenticated routes...) are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_DESCRIPTIONS = {
    "400": "malformed request",
    "401": "missing or invalid API key",
    "413": "request body too large",
    "422": "invalid input (the message names the field)",
    "429": "rate limited; see Retry-After",
    "503": "a dependency (database, Temporal or S3) is unavailable; see Retry-After",
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def error_statuses(operation: dict[str, Any]) -> list[str]:
    """The error statuses an OpenAPI operation object can answer (as strings)."""
    statuses = ["400"]
    if operation.get("security"):
        statuses += ["401", "429", "503"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("422")
    if operation.get("requestBody"):
        statuses.append("413")
    return statuses


def add_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the derived statuses, with the ErrorResponse body, to every operation of `schema`
    (in place) that lacks them; returns `schema`."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(operation):
                responses.setdefault(
                    status,
                    {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
                )
    return schema


def install_error_documentation(app: FastAPI) -> None:
    """Make `app.openapi()` return the generated schema with the derived error responses."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

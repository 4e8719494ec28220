"""Jinja2 templates shipped in the package (`web/templates`), and the one way pages render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from db.web_sessions import SignedIn

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(
    request: Request, name: str, signed: SignedIn | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render template `name` with `context`, the signed-in user and its CSRF token."""
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"user": signed.user if signed else None, "csrf": signed.csrf_secret if signed else "", **context},
        status_code=status_code,
    )

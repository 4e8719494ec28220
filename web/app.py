"""The whole site: the JSON API (`api.app.create_app`) plus the studio's pages and static files.

`studio api` and the tests serve this app. The API routes are unchanged, except that a request
without a bearer key may use the studio's session cookie (with its CSRF token on state-changing
methods; see web/api_auth.py). Pages stay out of the OpenAPI schema.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from opentelemetry.sdk.trace import TracerProvider

from api.app import create_app
from api.deps import get_current_user
from clients.settings import Settings, get_settings
from web.api_auth import site_current_user
from web.page_errors import install_page_error_handlers
from web.routes import pages_router

STATIC_DIR = Path(__file__).parent / "static"


def create_site(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The API app for `settings` with the web studio mounted at `/` and `/static`."""
    app = create_app(settings or get_settings(), tracer_provider)
    app.dependency_overrides[get_current_user] = site_current_user
    install_page_error_handlers(app)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

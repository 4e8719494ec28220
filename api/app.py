"""The FastAPI application and its lifespan (Postgres engine, Temporal client, S3 client)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.errors import install_error_handlers
from api.routes import api_router, health
from api.state import ApiResources
from db.session import create_engine, create_session_factory
from studio.object_store import ObjectStore
from studio.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Connections open in the lifespan; Temporal connects lazily, so the API
    starts (and /readyz reports it) while Temporal is still down."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            lazy=True,
        )
        async with ObjectStore.open(settings) as store:
            app.state.resources = ApiResources(settings, create_session_factory(engine), temporal, store)
            yield
        await engine.dispose()

    app = FastAPI(
        title="Render Studio",
        version="0.1.0",
        description="Durable AI image rendering: one Temporal workflow per task.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(health.router)
    return app

"""The FastAPI application and its lifespan (Postgres engine, Temporal client, S3 client)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from api.auth_throttle import AuthThrottle
from api.body_limit import BodySizeLimit
from api.error_responses import install_error_handlers
from api.openapi_errors import install_error_documentation
from api.routes import api_router, health
from api.state import ApiResources
from api.task_status import TerminalStatuses
from clients.object_store import ObjectStore
from clients.settings import Settings, get_settings
from clients.telemetry import build_tracer_provider, temporal_interceptors
from clients.temporal_client import connect
from db.session import create_engine, create_session_factory


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Build the app. Connections open in the lifespan; Temporal connects lazily, so the API
    starts (and /readyz reports it) while Temporal is still down. Traces go to
    `tracer_provider` (default: as OTEL_TRACES_EXPORTER says); metrics are served on /metrics."""
    settings = settings or get_settings()
    provider = tracer_provider or build_tracer_provider(settings, "render-studio-api")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        temporal = await connect(settings, interceptors=temporal_interceptors(provider), lazy=True)
        async with ObjectStore.open(settings) as store:
            throttle = AuthThrottle(
                settings.auth_failures_per_address_per_minute, settings.auth_failures_per_key_prefix_per_minute
            )
            app.state.resources = ApiResources(
                settings, create_session_factory(engine), temporal, store, throttle, TerminalStatuses()
            )
            yield
        await engine.dispose()

    app = FastAPI(
        title="Render Studio",
        version="0.1.0",
        description="Durable AI image rendering: one Temporal workflow per task.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(health.router)
    install_error_documentation(app)
    # http_requests_total{handler,method,status} and http_request_duration_seconds{handler,method}.
    Instrumentator(registry=CollectorRegistry(), excluded_handlers=["/metrics"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    if provider is not None:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")
    return app

"""All routers, gathered in one place."""

from fastapi import APIRouter

from api.routes import (
    assets,
    catalog,
    events,
    exports,
    health,
    projects,
    public,
    tasks,
    uploads,
    usage,
    webhook_secret,
)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(projects.router)
api_router.include_router(tasks.router)
api_router.include_router(events.router)
api_router.include_router(assets.router)
api_router.include_router(uploads.router)
api_router.include_router(usage.router)
api_router.include_router(catalog.router)
api_router.include_router(public.router)
api_router.include_router(webhook_secret.router)
api_router.include_router(exports.router)

__all__ = ["api_router", "health"]

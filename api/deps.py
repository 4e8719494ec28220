"""FastAPI dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.error_responses import NotFound, Unauthorized
from api.state import ApiResources
from db.exports import get_owned_export
from db.models import Export, Project, Task, User
from db.projects import get_owned_project
from db.tasks import get_owned_task
from db.users import get_user_by_key_hash, hash_api_key

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_resources(request: Request) -> ApiResources:
    """The resources opened by the lifespan."""
    resources: ApiResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[ApiResources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One session per request and one unit of work: committed here when the handler returns,
    rolled back when it raises. Handlers and services do not commit (the one exception is the
    creation-rate counter, a unit of work of its own that must stand when the creation fails).
    Scope "function": the commit happens before the response is sent, so a client never sees
    a 2xx for a write that then fails, and the connection is released before a stream starts."""
    async with resources.sessions() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_current_user(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The user owning the bearer API key; raises Unauthorized (401) when missing or wrong, and
    TooManyRequests (429) without querying the database while the caller's address or the
    key's prefix has failed too often (see api.auth_throttle)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    key = credentials.credentials
    key_hash = hash_api_key(key)
    address = request.client.host if request.client else "unknown"
    await resources.auth_throttle.check(address, key, key_hash)
    user = await get_user_by_key_hash(session, key_hash)
    if user is None:
        await resources.auth_throttle.failed(address, key)
        raise Unauthorized("invalid API key")
    resources.auth_throttle.succeeded(key_hash)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def owned_project_or_404(session: AsyncSession, user: User, project_id: uuid.UUID) -> Project:
    """The caller's project; another user's or an unknown id is the same 404 (NotFound)."""
    project = await get_owned_project(session, user.id, project_id)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return project


async def owned_task_or_404(session: AsyncSession, user: User, task_id: uuid.UUID) -> Task:
    """The caller's task; another user's or an unknown id is the same 404 (NotFound)."""
    task = await get_owned_task(session, user.id, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


async def owned_export_or_404(session: AsyncSession, user: User, export_id: uuid.UUID) -> Export:
    """The caller's export; another user's or an unknown id is the same 404 (NotFound)."""
    export = await get_owned_export(session, user.id, export_id)
    if export is None:
        raise NotFound(f"export {export_id} not found")
    return export

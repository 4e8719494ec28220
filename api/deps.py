"""FastAPI dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Unauthorized
from api.state import ApiResources
from db.models import User
from db.users import get_user_by_key_hash, hash_api_key

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_resources(request: Request) -> ApiResources:
    """The resources opened by the lifespan."""
    resources: ApiResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[ApiResources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One session per request; handlers commit explicitly."""
    async with resources.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


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

"""The JSON API, as served by the site, also accepts the studio's session cookie.

The pages call `/api/v1` from the browser (so the create form gets the API's own validation and
messages): `site_current_user` replaces `api.deps.get_current_user` in the site app. A request
with `Authorization: Bearer` is authenticated exactly as before; one with only the session
cookie is the session's user, and a state-changing one must carry the session's CSRF token
(`X-CSRF-Token`), else 403 `csrf_failed`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ResourcesDep, SessionDep, get_current_user
from api.error_responses import Unauthorized
from db.models import User
from db.web_sessions import session_user
from web.csrf import SAFE_METHODS, require_csrf
from web.session import COOKIE

_bearer = HTTPBearer(auto_error=False)


async def site_current_user(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The bearer key's user or, without a key, the session cookie's (CSRF-checked on unsafe
    methods). Raises Unauthorized (401), TooManyRequests (429) or CsrfRefused (403)."""
    token = request.cookies.get(COOKIE)
    if credentials is not None or not token:
        return await get_current_user(request, session, resources, credentials)
    signed = await session_user(session, token)
    if signed is None:
        raise Unauthorized("the studio session has ended: sign in again")
    if request.method not in SAFE_METHODS:
        await require_csrf(request, signed.csrf_secret)
    return signed.user

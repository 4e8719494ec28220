"""The signed-in browser: the session cookie, and the page dependency that needs it.

The cookie holds a random token (the database keeps its SHA-256): HttpOnly, SameSite=Lax, and
Secure when the request came over https (uvicorn's proxy headers turn a trusted proxy's
`X-Forwarded-Proto: https` into the request's scheme; see FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from api.deps import SessionDep
from db.web_sessions import SignedIn, session_user

COOKIE = "studio_session"


class SignInRequired(Exception):
    """A page was asked for without a live session: the handler redirects to /sign-in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def set_session_cookie(request: Request, response: Response, token: str, ttl_s: int) -> None:
    """Put the session token in an HttpOnly, SameSite=Lax cookie (Secure over https)."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=ttl_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https")


async def current_session(request: Request, session: SessionDep) -> SignedIn | None:
    """The live session of the request's cookie, or None."""
    token = request.cookies.get(COOKIE)
    return None if not token else await session_user(session, token)


async def require_signed_in(request: Request, session: SessionDep) -> SignedIn:
    """The live session; raises SignInRequired (a redirect to /sign-in) without one."""
    signed = await current_session(request, session)
    if signed is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return signed


SignedInDep = Annotated[SignedIn, Depends(require_signed_in)]

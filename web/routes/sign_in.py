"""Sign in (paste an API key once, or a one-time link from `studio dev`) and sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ResourcesDep, SessionDep
from api.error_responses import TooManyRequests
from db.users import get_user_by_key_hash, hash_api_key
from db.web_sessions import end_session, redeem_sign_in_link, start_session
from web.csrf import CsrfRefused, require_csrf, tokens_match
from web.session import COOKIE, SignedInDep, clear_session_cookie, current_session, set_session_cookie
from web.templating import render

router = APIRouter()

# Before a session exists the sign-in form is protected by a double-submit token: a random value
# in a SameSite=Lax cookie and in the form; another site can post the form but not read the value.
SIGN_IN_COOKIE = "studio_sign_in"


def _safe_next(next_path: str | None) -> str:
    """Only a path of this site (no scheme, no `//host`) is followed after signing in."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/projects"


def _sign_in_page(request: Request, next_path: str, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "sign_in.html", None, status_code=status_code, next_path=next_path, form_token=token, error=error
    )
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response


def _signed_in(request: Request, token: str, ttl_s: int, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(request, response, token, ttl_s)
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.get("/")
async def home(request: Request, session: SessionDep) -> Response:
    """The projects when signed in, else the sign-in page."""
    signed = await current_session(request, session)
    return RedirectResponse("/projects" if signed else "/sign-in", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form: paste an API key."""
    return _sign_in_page(request, _safe_next(next))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/projects",
) -> Response:
    """Start a session for the user owning `api_key` (the key itself is not kept)."""
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if expected is None or not tokens_match(form_token, expected):
        raise CsrfRefused("the sign-in form expired or came from another site: reload it")
    key = api_key.strip()
    address = request.client.host if request.client else "unknown"
    try:
        await resources.auth_throttle.check(address, key, hash_api_key(key))
    except TooManyRequests as exc:
        return _sign_in_page(request, _safe_next(next), exc.message, status_code=429)
    user = await get_user_by_key_hash(session, hash_api_key(key)) if key else None
    if user is None:
        if key:
            await resources.auth_throttle.failed(address, key)
        return _sign_in_page(request, _safe_next(next), "That API key is not valid.", status_code=401)
    resources.auth_throttle.succeeded(hash_api_key(key))
    ttl = resources.settings.web_session_ttl_s
    token, _ = await start_session(session, user.id, ttl)
    return _signed_in(request, token, ttl, _safe_next(next))


@router.get("/sign-in/{link_token}")
async def sign_in_with_link(
    link_token: str, request: Request, session: SessionDep, resources: ResourcesDep
) -> Response:
    """Redeem a one-time sign-in link (`studio dev` prints one): it works once, for a few minutes."""
    user_id = await redeem_sign_in_link(session, link_token)
    if user_id is None:
        return _sign_in_page(request, "/projects", "That sign-in link was already used or has expired.", 400)
    ttl = resources.settings.web_session_ttl_s
    token, _ = await start_session(session, user_id, ttl)
    return _signed_in(request, token, ttl, "/projects")


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, signed: SignedInDep) -> Response:
    """End the session (its row is deleted) and clear the cookie."""
    await require_csrf(request, signed.csrf_secret)
    await end_session(session, request.cookies[COOKIE])
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session_cookie(request, response)
    return response

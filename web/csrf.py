"""CSRF protection: a synchronizer token per session.

Each session row holds a random CSRF secret; the pages carry it (a `<meta>` tag read by
`studio.js`, htmx's `hx-headers`, a hidden form field) and every state-changing request made
with the session cookie must send it back, as the `X-CSRF-Token` header or a `csrf_token` form
field. A cross-site page can make the browser send the cookie but cannot read the token.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from api.error_responses import AppError

HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(AppError):
    """403: a state-changing request with the session cookie but without its CSRF token."""

    status_code = 403
    code = "csrf_failed"


def tokens_match(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of a sent token with the expected one (False when none sent)."""
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


async def require_csrf(request: Request, expected: str) -> None:
    """Raise CsrfRefused unless the request carries `expected` in the X-CSRF-Token header or,
    for a form post, in the `csrf_token` field."""
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        field = form.get(FORM_FIELD)
        sent = field if isinstance(field, str) else None
    if not tokens_match(sent, expected):
        raise CsrfRefused("missing or wrong CSRF token: reload the page and try again")

"""Web studio sessions and one-time sign-in links. Tokens are random 32-byte strings; only
their SHA-256 is stored, so a copy of the table signs nobody in."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User, WebSession, WebSignInLink


def hash_token(token: str) -> str:
    """Hex SHA-256 of a session or sign-in token (high-entropy, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A live session: its user and the CSRF secret its pages carry."""

    user: User
    csrf_secret: str


async def start_session(session: AsyncSession, user_id: uuid.UUID, ttl_s: int) -> tuple[str, str]:
    """Add a session for `user_id` valid `ttl_s` seconds; returns (cookie token, CSRF secret).
    Expired sessions are swept on the way. The caller commits."""
    now = datetime.now(UTC)
    await session.execute(delete(WebSession).where(WebSession.expires_at < now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=hash_token(token), user_id=user_id, csrf_secret=csrf, expires_at=now + timedelta(seconds=ttl_s)
        )
    )
    await session.flush()
    return token, csrf


async def session_user(session: AsyncSession, token: str) -> SignedIn | None:
    """The user and CSRF secret of an unexpired session whose token is `token`, else None."""
    row = (
        await session.execute(
            select(User, WebSession.csrf_secret)
            .join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.token_hash == hash_token(token), WebSession.expires_at > datetime.now(UTC))
        )
    ).one_or_none()
    return None if row is None else SignedIn(row[0], row[1])


async def end_session(session: AsyncSession, token: str) -> None:
    """Delete the session whose token is `token` (nothing when there is none). The caller commits."""
    await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


async def create_sign_in_link(session: AsyncSession, user_id: uuid.UUID, ttl_s: int) -> str:
    """A one-time sign-in token for `user_id`, valid `ttl_s` seconds (only its hash is stored).
    The caller commits."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await session.execute(delete(WebSignInLink).where(WebSignInLink.expires_at < now))
    session.add(WebSignInLink(token_hash=hash_token(token), user_id=user_id, expires_at=now + timedelta(seconds=ttl_s)))
    await session.flush()
    return token


async def redeem_sign_in_link(session: AsyncSession, token: str) -> uuid.UUID | None:
    """The user of an unexpired sign-in token, deleting it in the same statement (one use only);
    None for an unknown, used or expired token. The caller commits."""
    result = await session.execute(
        delete(WebSignInLink)
        .where(WebSignInLink.token_hash == hash_token(token), WebSignInLink.expires_at > datetime.now(UTC))
        .returning(WebSignInLink.user_id)
    )
    return result.scalar_one_or_none()

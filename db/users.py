"""Users and API keys. Keys are random 32-byte tokens; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User
from kernel.webhook_signing import new_secret

API_KEY_PREFIX = "rs_"


def hash_api_key(api_key: str) -> str:
    """Hex SHA-256 of an API key (keys are high-entropy, so a fast hash is enough)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh API key: `rs_` + 43 URL-safe characters (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def create_user(session: AsyncSession, name: str, api_key: str | None = None) -> tuple[User, str]:
    """Add a user; returns (user, plaintext api key). The caller commits."""
    key = api_key or new_api_key()
    user = User(name=name, api_key_hash=hash_api_key(key))
    session.add(user)
    await session.flush()
    return user, key


async def get_user_by_api_key(session: AsyncSession, api_key: str) -> User | None:
    """The user owning this key, or None."""
    return await get_user_by_key_hash(session, hash_api_key(api_key))


async def get_user_by_key_hash(session: AsyncSession, key_hash: str) -> User | None:
    """The user whose API key has this hex SHA-256, or None."""
    result = await session.execute(select(User).where(User.api_key_hash == key_hash))
    return result.scalar_one_or_none()


async def ensure_webhook_secret(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The user's webhook signing secret, created on first use. The caller commits."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    if user.webhook_secret is None:
        user.webhook_secret = new_secret()
    return user.webhook_secret

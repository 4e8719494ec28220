"""One-click sign-in links for the web studio (`studio dev`, `studio sign-in-link`): a one-time
token valid SIGN_IN_LINK_TTL_S seconds, stored hashed; the URL never carries the API key."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from clients.settings import Settings
from db.models import User
from db.session import create_engine, create_session_factory
from db.users import get_user_by_api_key
from db.web_sessions import create_sign_in_link


class UnknownUser(LookupError):
    """No user matches the key, id or name given (or a name matches several)."""


def sign_in_url(settings: Settings, token: str, base_url: str | None = None) -> str:
    """The studio's URL that redeems `token` (default base: API_HOST:API_PORT over http)."""
    base = (base_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
    return f"{base}/sign-in/{token}"


async def new_sign_in_link(settings: Settings, *, api_key: str | None = None, user: str | None = None) -> str:
    """A fresh one-time sign-in token for the user owning `api_key`, or named by `user` (an id
    or a unique name). Raises UnknownUser when none (or several) match."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            found: User | None = None
            if api_key is not None:
                found = await get_user_by_api_key(session, api_key)
            elif user is not None:
                try:
                    found = await session.get(User, uuid.UUID(user))
                except ValueError:
                    named = list((await session.execute(select(User).where(User.name == user).limit(2))).scalars())
                    found = named[0] if len(named) == 1 else None
            if found is None:
                raise UnknownUser(f"no single user matches {user or 'that API key'}")
            token = await create_sign_in_link(session, found.id, settings.sign_in_link_ttl_s)
            await session.commit()
            return token
    finally:
        await engine.dispose()

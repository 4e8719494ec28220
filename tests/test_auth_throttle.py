"""Failed authentication is throttled per client address and per key prefix, before any
database query, without locking out a key that authenticated recently.

Each test connects from its own loopback source address (127.0.0.x), so its failures do not
throttle the 127.0.0.1 every other test uses.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from clients.settings import Settings
from db.session import SessionFactory
from db.users import create_user

ClientFactory = Callable[[str, str | None], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_from(api_server: Any) -> ClientFactory:
    """An HTTP client connecting from a given loopback source address with a given key."""

    @asynccontextmanager
    async def open_client(source: str, key: str | None) -> AsyncIterator[httpx.AsyncClient]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers, transport=transport) as client:
            yield client

    return open_client


async def _new_key(sessions: SessionFactory) -> str:
    async with sessions() as session:
        _, key = await create_user(session, f"throttle-{uuid.uuid4().hex[:6]}")
        await session.commit()
    return key


async def test_an_address_that_keeps_failing_is_throttled_before_the_database(
    client_from: ClientFactory, sessions: SessionFactory, settings: Settings
) -> None:
    source = "127.0.0.2"
    holder, stranger = await _new_key(sessions), await _new_key(sessions)
    async with client_from(source, holder) as client:
        assert (await client.get("/api/v1/projects")).status_code == 200

    async with client_from(source, None) as attacker:
        for _ in range(settings.auth_failures_per_address_per_minute):
            wrong = {"Authorization": f"Bearer rs_{secrets.token_urlsafe(32)}"}
            assert (await attacker.get("/api/v1/projects", headers=wrong)).status_code == 401
        throttled = await attacker.get("/api/v1/projects", headers={"Authorization": "Bearer rs_guess"})

    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "auth_throttled"
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    # The key holder who authenticated before is not locked out by the attacker next door...
    async with client_from(source, holder) as client:
        assert (await client.get("/api/v1/projects")).status_code == 200
    # ...while a valid key never seen from there is refused too: no lookup happened.
    async with client_from(source, stranger) as client:
        refused = await client.get("/api/v1/projects")
        assert refused.status_code == 429
    # The throttle is per address: the same key works from another one.
    async with client_from("127.0.0.4", stranger) as client:
        assert (await client.get("/api/v1/projects")).status_code == 200


async def test_guesses_against_one_key_prefix_are_throttled(client_from: ClientFactory, settings: Settings) -> None:
    prefix = "rs_" + secrets.token_urlsafe(8)[:9]
    async with client_from("127.0.0.3", None) as attacker:
        for _ in range(settings.auth_failures_per_key_prefix_per_minute):
            guess = {"Authorization": f"Bearer {prefix}{secrets.token_urlsafe(24)}"}
            assert (await attacker.get("/api/v1/projects", headers=guess)).status_code == 401
        same_prefix = await attacker.get("/api/v1/projects", headers={"Authorization": f"Bearer {prefix}zzz"})
        other_prefix = await attacker.get("/api/v1/projects", headers={"Authorization": "Bearer rs_other-prefix"})

    assert same_prefix.status_code == 429
    assert "key prefix" in same_prefix.json()["error"]["message"]
    assert other_prefix.status_code == 401

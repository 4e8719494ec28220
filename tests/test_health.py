"""Probes, and the 503 (never 500) a client gets while a dependency is down."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from clients.settings import Settings
from db.session import SessionFactory
from db.users import create_user
from studio.localstack.ports import free_port
from tests.chaos.s3_proxy import S3FaultProxy
from tests.helpers import client_as_new_user, create_project, serve_api


async def test_healthz_and_readyz(api_server: object) -> None:
    async with httpx.AsyncClient(base_url=api_server.base_url) as client:  # type: ignore[attr-defined]
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok", "s3": "ok"}


@pytest.fixture
async def api_without_temporal(settings: Settings, sessions: SessionFactory):
    """The real API wired to the real Postgres and S3 but to a Temporal address nobody listens on."""
    broken = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    app = create_app(broken)
    async with sessions() as session:
        _, key = await create_user(session, "outage")
        await session.commit()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {key}"}
        ) as client,
    ):
        yield client


async def test_temporal_down_gives_503_and_creates_nothing(api_without_temporal: httpx.AsyncClient) -> None:
    http = api_without_temporal
    project_id = await create_project(http)

    response = await http.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "t", "prompt": "a cat"})
    ready = await http.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dependency_unavailable"
    assert response.headers["retry-after"] == "5"
    assert ready.status_code == 503
    assert ready.json()["checks"]["temporal"].startswith("unavailable")
    listed = await http.get(f"/api/v1/projects/{project_id}/tasks")
    assert (listed.status_code, listed.json()["items"]) == (200, [])  # the refused task left no row


async def test_s3_answering_503_gives_503_not_500(settings: Settings, sessions: SessionFactory, token: str) -> None:
    """S3 itself answers (503 SlowDown) rather than being unreachable: still an outage to the
    client, with Retry-After, never a 500."""
    proxy = S3FaultProxy(settings.s3_endpoint_url or "", free_port())
    await proxy.start()
    try:
        via_proxy = settings.model_copy(update={"s3_endpoint_url": proxy.url, "s3_public_endpoint_url": proxy.url})
        async with serve_api(via_proxy) as api, client_as_new_user(api.base_url, sessions) as http:
            project_id = await create_project(http)
            upload = await http.post(
                f"/api/v1/projects/{project_id}/uploads",
                json={"filename": f"{token}.png", "content_type": "image/png", "byte_size": 100},
            )
            assert upload.status_code == 201, upload.text
            proxy.fail_with_503(True)
            completed = await http.post(f"/api/v1/uploads/{upload.json()['id']}/complete")
    finally:
        await proxy.stop()

    assert completed.status_code == 503, completed.text
    assert completed.json()["error"]["code"] == "dependency_unavailable"
    assert completed.headers["retry-after"] == "5"

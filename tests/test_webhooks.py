"""Webhooks: signed per Standard Webhooks, retried with a stable webhook-id, SSRF-checked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from gemini_emulator import EmulatorServer
from kernel.webhook_signing import verify
from kernel.webhook_url_policy import UnsafeWebhookUrl, check_webhook_url
from studio.localstack.ports import free_port
from tests.helpers import create_project, create_task, wait_for_task


@dataclass
class Receiver:
    url: str
    fail_first: int = 1
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def wait_for(self, count: int, timeout_s: float = 40) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} deliveries"
            await asyncio.sleep(0.2)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on loopback that answers 500 to the first delivery, then 200."""
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hooks")

    async def handle(request: web.Request) -> web.Response:
        state.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if len(state.requests) <= state.fail_first else 200)

    app = web.Application()
    app.router.add_post("/hooks", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


async def test_succeeded_webhook_is_signed_and_retried_with_the_same_id(
    http: httpx.AsyncClient, receiver: Receiver, token: str
) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"notify me {token}", webhook_url=receiver.url)
    task = await wait_for_task(http, created["id"])
    secret = (await http.get("/api/v1/webhooks/secret")).json()["secret"]

    await receiver.wait_for(2)  # the first answer was a 500: retried

    (first_headers, _), (headers, body) = receiver.requests[:2]
    assert headers["webhook-id"] == first_headers["webhook-id"] == f"msg_{created['id']}_succeeded"
    assert verify(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body, headers["webhook-signature"])
    assert not verify(
        secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body + b" ", headers["webhook-signature"]
    )
    payload = json.loads(body)
    assert payload["type"] == "task.succeeded"
    assert payload["data"]["asset_ids"] == task["asset_ids"]
    assert payload["data"]["cost"] == task["cost"] == {"micro_usd": 134_000, "usd": "0.134000"}  # 3 Pro, 1K
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


async def test_failed_and_canceled_tasks_are_notified(
    http: httpx.AsyncClient, emulator: EmulatorServer, receiver: Receiver, token: str
) -> None:
    receiver.fail_first = 0
    emulator.script(f"unsafe {token}", [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}])
    emulator.script(f"slow {token}", [{"kind": "hang", "seconds": 30}])
    project_id = await create_project(http)
    blocked = await create_task(http, project_id, prompt=f"unsafe {token}", webhook_url=receiver.url)
    slow = await create_task(http, project_id, prompt=f"slow {token}", webhook_url=receiver.url)
    await wait_for_task(http, blocked["id"])
    await wait_for_task(http, slow["id"], statuses={"running"})
    await asyncio.sleep(1)
    await http.post(f"/api/v1/tasks/{slow['id']}/cancel")

    await receiver.wait_for(2)

    events = {json.loads(body)["type"]: json.loads(body)["data"] for _, body in receiver.requests}
    assert events["task.failed"]["error"]["code"] == "content_blocked"
    assert events["task.canceled"]["task_id"] == slow["id"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",  # loopback outside development
        "https://localhost/x",
        "https://10.1.2.3/x",  # private
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[fe80::1]/x",
        "https://[::1]/x",
        "http://93.184.216.34/x",  # public, but not https
        "https://user:pw@93.184.216.34/x",
    ],
)
async def test_unsafe_urls_are_refused_outside_development(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, development=False)


async def test_public_https_and_dev_loopback_are_allowed() -> None:
    await check_webhook_url("https://93.184.216.34/hooks", development=False)
    await check_webhook_url("http://127.0.0.1:8080/hooks", development=True)
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url("https://10.0.0.5/hooks", development=True)  # private: never


async def test_task_with_a_private_webhook_url_is_rejected_before_any_work(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    project_id = await create_project(http)
    response = await http.post(
        f"/api/v1/projects/{project_id}/tasks",
        json={"name": "t", "prompt": f"ssrf {token}", "webhook_url": "https://169.254.169.254/latest"},
    )
    assert response.status_code == 422
    assert "link-local" in response.json()["error"]["message"]
    assert emulator.calls(token) == []

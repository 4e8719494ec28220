"""Progress as Server-Sent Events, resumable with Last-Event-ID, ending when the task ends."""

from __future__ import annotations

import json

import httpx

from gemini_emulator import EmulatorServer
from tests.helpers import create_project, create_task


async def _read_events(http: httpx.AsyncClient, task_id: str, headers: dict[str, str] | None = None) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    async with http.stream("GET", f"/api/v1/tasks/{task_id}/events", headers=headers or {}, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return events


async def test_stream_shows_stages_and_variations_then_ends(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "ok", "latency_s": 1.5}, {"kind": "ok", "latency_s": 2.5}])
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"streamed {token}", n=2)

    events = await _read_events(http, created["id"])

    names = [e["event"] for e in events]
    assert names[-1] == "end" and set(names[:-1]) == {"status"}
    views = [json.loads(e["data"]) for e in events[:-1]]
    assert "generating" in [v["stage"] for v in views]
    seen_states = {tuple(v["state"] for v in view["variations"]) for view in views}
    assert ("succeeded", "generating") in seen_states or ("generating", "succeeded") in seen_states
    assert views[-1]["status"] == "succeeded"
    assert json.loads(events[-1]["data"]) == {"status": "succeeded"}
    assert len({e["id"] for e in events[:-1]}) == len(events) - 1  # every status event is a change

    resumed = await _read_events(http, created["id"], headers={"Last-Event-ID": events[-2]["id"]})
    assert [e["event"] for e in resumed] == ["end"]  # nothing changed since: no repeat


async def test_stream_of_another_users_task_is_404(
    http: httpx.AsyncClient, other_http: httpx.AsyncClient, token: str
) -> None:
    project_id = await create_project(http)
    created = await create_task(http, project_id, prompt=f"private {token}")

    response = await other_http.get(f"/api/v1/tasks/{created['id']}/events")

    assert response.status_code == 404

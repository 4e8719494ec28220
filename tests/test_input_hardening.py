"""Bad input never becomes a hidden workflow, a 500 or a false outage (issue 8's probes).

Each case was found by fuzzing the API; each must now be a 4xx in the JSON envelope that names
the field, with no workflow started and no model call made.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from db.models import Project
from db.session import SessionFactory
from gemini_emulator import EmulatorServer
from kernel.contract import task_id_for_idempotency_key, workflow_id_for
from tests.helpers import create_project

CONTROL_AND_BIDI = ["\u0000", "\u001b", "\u0007", "\u007f", "\u0085", "\u202e", "\u2066", "\ud800"]


async def _owner_of(sessions: SessionFactory, project_id: str) -> uuid.UUID:
    async with sessions() as session:
        project = await session.get(Project, uuid.UUID(project_id))
        assert project is not None
        return project.owner_id


async def _assert_no_workflow(temporal: Client, workflow_id: str) -> None:
    with pytest.raises(RPCError) as err:
        await temporal.get_workflow_handle(workflow_id).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


def _assert_invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    error = dict(response.json()["error"])
    assert error["code"] == "invalid_request"
    assert field in error["message"], error
    return error


@pytest.mark.parametrize("field", ["prompt", "name", "description"])
async def test_nul_in_a_task_is_a_422_and_starts_no_workflow(
    http: httpx.AsyncClient,
    temporal: Client,
    sessions: SessionFactory,
    emulator: EmulatorServer,
    token: str,
    field: str,
) -> None:
    project_id = await create_project(http)
    body = {"name": "t", "prompt": f"a red bicycle {token}", field: f"a red\u0000 bicycle {token}"}
    key = f"nul-{token}"

    response = await http.post(f"/api/v1/projects/{project_id}/tasks", json=body, headers={"Idempotency-Key": key})

    error = _assert_invalid(response, field)
    assert "U+0000" in error["message"]
    task_id = task_id_for_idempotency_key(await _owner_of(sessions, project_id), key)
    await _assert_no_workflow(temporal, workflow_id_for(task_id))
    assert (await http.get(f"/api/v1/tasks/{task_id}")).status_code == 404
    assert emulator.calls(token) == []


async def _send_json(http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    # json.dumps escapes every non-ASCII character (\uXXXX), so a lone surrogate can be sent.
    content = json.dumps(body)
    return await http.request(method, path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize("char", CONTROL_AND_BIDI)
async def test_control_bidi_and_surrogate_characters_are_refused_in_names_and_prompts(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str, char: str
) -> None:
    project = await _send_json(http, "POST", "/api/v1/projects", {"name": f"launch{char}"})
    _assert_invalid(project, "name")
    project_id = await create_project(http)
    task_body = {"name": "t", "prompt": f"a {char} {token}"}
    _assert_invalid(await _send_json(http, "POST", f"/api/v1/projects/{project_id}/tasks", task_body), "prompt")
    kit = await _send_json(http, "PATCH", f"/api/v1/projects/{project_id}", {"brand_kit": {"tone": f"calm{char}"}})
    _assert_invalid(kit, "brand_kit.tone")
    assert emulator.calls(token) == []


async def test_tabs_and_line_breaks_are_allowed_where_text_is_multi_line(http: httpx.AsyncClient) -> None:
    created = await http.post("/api/v1/projects", json={"name": "ok", "description": "line one\r\n\tline two"})
    assert created.status_code == 201, created.text
    assert created.json()["description"] == "line one\r\n\tline two"
    _assert_invalid(await http.post("/api/v1/projects", json={"name": "two\nlines"}), "name")


async def test_null_name_is_a_422_and_leaves_the_project_unchanged(http: httpx.AsyncClient) -> None:
    project_id = await create_project(http, "keep me")

    response = await http.patch(f"/api/v1/projects/{project_id}", json={"name": None})

    _assert_invalid(response, "name")
    assert (await http.get(f"/api/v1/projects/{project_id}")).json()["name"] == "keep me"
    cleared = await http.patch(f"/api/v1/projects/{project_id}", json={"description": None, "daily_image_quota": None})
    assert cleared.status_code == 200, cleared.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"daily_image_quota": False}, "daily_image_quota"),
        ({"daily_image_quota": "5"}, "daily_image_quota"),
        ({"daily_image_quota": 2.5}, "daily_image_quota"),
        ({"name": 7}, "name"),
        ({"description": "x\u0000"}, "description"),
    ],
)
async def test_project_fields_are_strictly_typed(http: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    project_id = await create_project(http)
    _assert_invalid(await http.patch(f"/api/v1/projects/{project_id}", json=body), field)
    _assert_invalid(await http.post("/api/v1/projects", json={"name": "p", **body}), field)
    assert (await http.get(f"/api/v1/projects/{project_id}")).json()["daily_image_quota"] is None


@pytest.mark.parametrize(("body", "field"), [({"n": True}, "n"), ({"review": 1}, "review"), ({"n": "2"}, "n")])
async def test_task_numbers_and_flags_are_strictly_typed(
    http: httpx.AsyncClient, emulator: EmulatorServer, token: str, body: dict[str, Any], field: str
) -> None:
    project_id = await create_project(http)
    payload = {"name": "t", "prompt": f"a kite {token}", **body}
    _assert_invalid(await http.post(f"/api/v1/projects/{project_id}/tasks", json=payload), field)
    assert emulator.calls(token) == []


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1700000000", "yesterday", "2026-13-01"]
)
@pytest.mark.parametrize("param", ["created_after", "created_before"])
@pytest.mark.parametrize("listing", ["tasks", "rendered-assets"])
async def test_dates_outside_the_storable_range_or_not_iso_are_a_422(
    http: httpx.AsyncClient, value: str, param: str, listing: str
) -> None:
    project_id = await create_project(http)
    response = await http.get(f"/api/v1/projects/{project_id}/{listing}", params={param: value})
    _assert_invalid(response, param)


async def test_dates_in_range_still_filter(http: httpx.AsyncClient) -> None:
    project_id = await create_project(http)
    for value in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00+14:00", "2026-01-01", "0001-01-02T00:00:00+14:00"):
        response = await http.get(f"/api/v1/projects/{project_id}/tasks", params={"created_after": value})
        assert response.status_code == 200, (value, response.text)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"])
async def test_a_cursor_carrying_an_unstorable_date_is_a_422(http: httpx.AsyncClient, stamp: str) -> None:
    project_id = await create_project(http)
    cursor = base64.urlsafe_b64encode(f"{stamp}|{uuid.uuid4()}".encode()).decode().rstrip("=")
    for path in (f"/projects/{project_id}/tasks", f"/projects/{project_id}/rendered-assets", "/projects"):
        _assert_invalid(await http.get(f"/api/v1{path}", params={"cursor": cursor}), "cursor")


async def test_nul_in_the_asset_type_filter_is_a_422(http: httpx.AsyncClient) -> None:
    project_id = await create_project(http)
    response = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"asset_type": "image\u0000"})
    _assert_invalid(response, "asset_type")


async def test_405_names_the_allowed_methods_in_the_envelope(http: httpx.AsyncClient) -> None:
    response = await http.put("/api/v1/projects")

    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    ],
)
async def test_malformed_http_gets_the_json_envelope(api_server: Any, raw: bytes) -> None:
    host, port = httpx.URL(api_server.base_url).host, httpx.URL(api_server.base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"content-type: application/json" in head.lower()
    assert httpx.Response(400, content=body).json()["error"]["code"] == "bad_request"

"""`studio render`, `studio tasks`, `studio pull`, `studio export` run as a user would: the installed `studio`
command in a subprocess, against the session's real API, worker and S3 (over HTTP only)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from db.session import SessionFactory
from db.users import create_user
from gemini_emulator import EmulatorServer
from studio.localstack.ports import free_port
from tests.helpers import ApiServer, create_project, create_task, wait_for_task

STUDIO = str(Path(sys.executable).parent / "studio")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass
class User:
    key: str
    http: httpx.AsyncClient


async def studio(*args: str, key: str, api_url: str, cwd: Path, timeout_s: float = 120) -> Run:
    """Run `studio ARGS` (never blocking the event loop the API under test is served from)."""
    env = {**os.environ, "STUDIO_API_URL": api_url, "STUDIO_API_KEY": key, "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        STUDIO, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return Run(proc.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
async def user(api_server: ApiServer, sessions: SessionFactory) -> AsyncIterator[User]:
    """A fresh user: its API key (for the command) and an HTTP client (for the test's checks)."""
    async with sessions() as session:
        _, key = await create_user(session, f"cli-{uuid.uuid4().hex[:8]}")
        await session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=headers, timeout=30) as http:
        yield User(key, http)


async def _project_id(http: httpx.AsyncClient, name: str) -> str:
    listed = (await http.get("/api/v1/projects", params={"limit": 100})).json()["items"]
    return next(p["id"] for p in listed if p["name"] == name)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_render_downloads_the_images_the_api_lists(
    api_server: ApiServer, user: User, tmp_path: Path, token: str
) -> None:
    run = await studio(
        "render", f"a lighthouse at dusk {token}", "--project", "cli", "-n", "2", "--aspect", "16:9",
        "--out", "shots", key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "created project cli" in run.stderr
    assert "2/2 succeeded" in run.stderr  # the progress bar's last state: both variations done
    paths = [Path(line) for line in run.stdout.split()]
    assert len(paths) == 2
    project_id = await _project_id(user.http, "cli")
    tasks = (await user.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert len(tasks) == 1 and tasks[0]["status"] == "succeeded"
    task_id = tasks[0]["id"]
    listed = await user.http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": task_id})
    assets = listed.json()["items"]
    assert sorted(_sha256(tmp_path / p) for p in paths) == sorted(a["sha256"] for a in assets)
    for path in paths:
        assert (tmp_path / path).parent == tmp_path / "shots"
        with Image.open(tmp_path / path) as image:
            assert image.size == (1376, 768)  # 16:9 at 1K

    # `studio tasks` lists it; `studio pull` downloads the same bytes again.
    listing = await studio("tasks", "--project", "cli", key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    assert listing.code == 0, listing.stderr
    assert task_id in listing.stdout and "succeeded" in listing.stdout
    pulled = await studio("pull", task_id, "--out", "again", key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    assert pulled.code == 0, pulled.stderr
    again = [tmp_path / p for p in pulled.stdout.split()]
    assert sorted(_sha256(p) for p in again) == sorted(a["sha256"] for a in assets)
    assert all(p.parent == tmp_path / "again" for p in again)


async def test_first_render_creates_the_default_project(
    api_server: ApiServer, user: User, tmp_path: Path, token: str
) -> None:
    run = await studio("render", f"a kite {token}", key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    assert run.code == 0, run.stderr
    [path] = [tmp_path / p for p in run.stdout.split()]
    assert path.parent == tmp_path / "renders" and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.size[0] == image.size[1]  # the API's default 1:1
    assert await _project_id(user.http, "default")


async def test_invalid_aspect_ratio_prints_the_apis_error_and_makes_no_task(
    api_server: ApiServer, user: User, tmp_path: Path, emulator: EmulatorServer, token: str
) -> None:
    run = await studio(
        "render", f"a bad ratio {token}", "--project", "bad", "--aspect", "7:3",
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 1
    assert "invalid_request" in run.stderr and "7:3" in run.stderr
    assert "Traceback" not in run.stderr
    project_id = await _project_id(user.http, "bad")
    assert (await user.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"] == []
    assert emulator.calls(token) == []
    assert not (tmp_path / "renders").exists()


async def test_a_blocked_prompt_exits_non_zero_with_content_blocked(
    api_server: ApiServer, user: User, tmp_path: Path, emulator: EmulatorServer, token: str
) -> None:
    emulator.script(token, [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}])
    run = await studio("render", f"something {token}", key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    assert run.code == 3, run.stderr
    assert "content_blocked" in run.stderr
    assert run.stdout.strip() == ""
    assert _files(tmp_path) == []


async def test_ref_uploads_a_file_and_reuses_an_asset_id(
    api_server: ApiServer, user: User, tmp_path: Path, token: str
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "PNG")
    (tmp_path / "sketch.png").write_bytes(buffer.getvalue())
    run = await studio(
        "render", f"a red bird {token}", "--project", "refs", "--ref", "sketch.png",
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    project_id = await _project_id(user.http, "refs")
    uploads = await user.http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"asset_type": "upload"})
    [upload] = uploads.json()["items"]
    assert upload["sha256"] == hashlib.sha256(buffer.getvalue()).hexdigest()
    [task] = (await user.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert task["parameters"]["reference_asset_ids"] == [upload["id"]]

    # The same asset by id: no second upload.
    second = await studio(
        "render", f"a blue bird {token}", "--project", "refs", "--ref", upload["id"],
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert second.code == 0, second.stderr
    uploads = await user.http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"asset_type": "upload"})
    assert len(uploads.json()["items"]) == 1
    tasks = (await user.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert tasks[0]["parameters"]["reference_asset_ids"] == [upload["id"]]


async def test_usage_and_connection_errors_are_messages_not_tracebacks(user: User, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    bad_ref = await studio(
        "render", "x", "--ref", "notes.txt", key=user.key, api_url="http://127.0.0.1:9", cwd=tmp_path
    )
    assert bad_ref.code == 2 and "notes.txt" in bad_ref.stderr

    closed = f"http://127.0.0.1:{free_port()}"
    down = await studio("tasks", key=user.key, api_url=closed, cwd=tmp_path)
    assert down.code == 1
    assert "cannot reach the Studio API" in down.stderr and closed in down.stderr
    assert "Traceback" not in down.stderr

    no_key = await studio("tasks", key="", api_url=closed, cwd=tmp_path)
    assert no_key.code == 2 and "STUDIO_API_KEY" in no_key.stderr


async def test_the_same_idempotency_key_renders_once(
    api_server: ApiServer, user: User, tmp_path: Path, emulator: EmulatorServer, token: str
) -> None:
    args = ("render", f"a tram {token}", "--project", "idem", "--idempotency-key", f"k-{token}")
    first = await studio(*args, key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    second = await studio(*args, key=user.key, api_url=api_server.base_url, cwd=tmp_path)
    assert first.code == second.code == 0, (first.stderr, second.stderr)
    assert first.stdout == second.stdout  # the same task, so the same file names
    project_id = await _project_id(user.http, "idem")
    assert len((await user.http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]) == 1
    assert len(emulator.calls(token)) == 1


def _mp4_frames(path: Path) -> list[tuple[int, int]]:
    """The size (pixels) of every decoded frame of the MP4 at `path`."""
    with av.open(str(path), mode="r") as container:
        return [(frame.width, frame.height) for frame in container.decode(container.streams.video[0])]


async def test_export_sends_its_filter_and_format_options_and_prints_the_apis_refusal(
    api_server: ApiServer, user: User, tmp_path: Path, token: str
) -> None:
    project_id = await create_project(user.http, f"reel-{token}")
    tasks = [await create_task(user.http, project_id, prompt=f"a reel frame {i} {token}") for i in range(2)]
    for task in tasks:
        assert (await wait_for_task(user.http, task["id"]))["status"] == "succeeded"
    run = await studio(
        "export", f"reel-{token}", "--format", "mp4", "--task", tasks[0]["id"], "--state", "draft",
        "--width", "160", "--height", "96", "--fps", "4", "--seconds-per-image", "0.5", "--out", "reel.mp4",
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    frames = await asyncio.to_thread(_mp4_frames, tmp_path / "reel.mp4")
    assert frames == [(160, 96)] * 2  # one image (the --task filter), 0.5 s at 4 fps
    [listed] = (await user.http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"]
    assert listed["options"]["width"] == 160 and listed["options"]["fps"] == 4 and listed["asset_count"] == 1

    odd = await studio(
        "export", f"reel-{token}", "--format", "mp4", "--width", "161", "--out", "odd.mp4",
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert odd.code == 1
    assert "invalid_request" in odd.stderr and "width" in odd.stderr and "multiple of 2" in odd.stderr
    assert "Traceback" not in odd.stderr and not (tmp_path / "odd.mp4").exists()
    assert len((await user.http.get(f"/api/v1/projects/{project_id}/exports")).json()["items"]) == 1

    stray = await studio(
        "export", f"reel-{token}", "--format", "zip", "--fps", "4", "--out", "x.zip",
        key=user.key, api_url=api_server.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert stray.code == 2 and "--fps" in stray.stderr

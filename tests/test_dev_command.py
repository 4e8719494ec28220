"""`studio dev` (what `make dev` runs) on a fresh state dir: it comes up with no keys and no
Docker, and nothing it started outlives it, even when it is killed with SIGKILL.

The command runs as a real process, on free ports (the settings it reads move every local
service), in a clean environment and working directory, so a developer's `.env` plays no part.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from studio.localstack.ports import free_port
from studio.localstack.postgres import EmbeddedPostgres

READY_S = 240.0  # first start: initdb, migrations, SeaweedFS, Temporal, then the API and worker
GONE_S = 60.0


def _env(state_dir: Path) -> dict[str, str]:
    ports = {name: free_port() for name in ("api", "temporal", "ui", "postgres", "s3", "gemini", "metrics")}
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(state_dir)),
        "STATE_DIR": str(state_dir),
        "API_PORT": str(ports["api"]),
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{ports['postgres']}/studio",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "TEMPORAL_UI_URL": f"http://127.0.0.1:{ports['ui']}",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
        "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{ports['gemini']}",
        "WORKER_METRICS_BIND": f"127.0.0.1:{ports['metrics']}",
    }


def _start(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    studio = Path(sys.executable).parent / "studio"
    with log.open("ab") as out:
        return subprocess.Popen([str(studio), "dev"], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
    url = f"http://127.0.0.1:{env['API_PORT']}/readyz"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"studio dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"studio dev was not ready within {READY_S:.0f} s:\n{log.read_text()[-3000:]}")


def _postgres_running(state_dir: Path) -> bool:
    pid_file = state_dir / "postgres" / "postmaster.pid"
    return pid_file.exists() and psutil.pid_exists(int(pid_file.read_text().split()[0]))


@pytest.fixture
def dev_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    state_dir, cwd = tmp_path / "state", tmp_path / "cwd"
    cwd.mkdir()
    yield state_dir, cwd
    # whatever a failed assertion left running
    EmbeddedPostgres(state_dir / "postgres", 0).stop()
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(state_dir) in arg for arg in proc.info["cmdline"] or []):
            proc.kill()


def test_studio_dev_comes_up_and_a_killed_one_leaves_nothing_behind(dev_dirs: tuple[Path, Path]) -> None:
    state_dir, cwd = dev_dirs
    env = _env(state_dir)
    log = cwd / "dev.log"

    first = _start(env, cwd, log)
    try:
        _wait_ready(first, env, log)
        key = (state_dir / "dev-api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{env['API_PORT']}/api/v1"
        created = httpx.post(f"{base}/projects", json={"name": "kept across restarts"}, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        started = psutil.Process(first.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "studio api" in names and "studio worker" in names and "start-dev" in names and "weed" in names
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    # The API, the worker, Temporal and S3 end with it (Postgres is a daemon: the next start
    # takes it over).
    _, alive = psutil.wait_procs(started, timeout=GONE_S)
    assert alive == [], [" ".join(p.cmdline()) for p in alive]

    second = _start(env, cwd, log)
    try:
        _wait_ready(second, env, log)
        listed = httpx.get(f"{base}/projects", headers=headers, timeout=10)
        assert [p["name"] for p in listed.json()["items"]] == ["kept across restarts"]
        started = psutil.Process(second.pid).children(recursive=True)
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(GONE_S)
    assert code == 0, log.read_text()[-3000:]
    _, alive = psutil.wait_procs(started, timeout=GONE_S)
    assert alive == []
    assert not _postgres_running(state_dir)

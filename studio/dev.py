"""`studio dev`: the whole stack in the foreground on embedded defaults (no Docker, no keys)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from api.app import create_app
from api.http_protocol import server_config
from clients.settings import Settings
from clients.telemetry import build_tracer_provider, temporal_interceptors, worker_runtime
from clients.temporal_client import connect, ensure_search_attributes
from db.session import create_engine, create_session_factory
from db.users import create_user, get_user_by_api_key
from studio.embedded_server import EmbeddedServer
from studio.localstack import LocalStack
from studio.worker import render_worker, wait_for_stop_signal

console = Console()
log = logging.getLogger(__name__)


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


def _banner(settings: Settings, key: str, key_file: Path) -> None:
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
    console.print(
        Panel(
            f"API           {base}/api/v1\n"
            f"API docs      {base}/docs\n"
            f"Temporal UI   {settings.temporal_ui_url}\n"
            f"Metrics       {base}/metrics (API), http://{settings.worker_metrics_bind}/metrics (worker)\n"
            f"API key       {key}   (saved in {key_file})\n\n"
            f'Try: curl -H "Authorization: Bearer $(cat {key_file})" {base}/api/v1/projects',
            title="Render Studio is ready",
            style="bold green",
        )
    )


async def _serve(settings: Settings, key_file: Path, saved_key: str | None) -> None:
    key = await ensure_dev_user(settings, saved_key)
    if key != saved_key:
        _save_key(key_file, key)
    provider = build_tracer_provider(settings, "render-studio-dev")
    client = await connect(settings, interceptors=temporal_interceptors(provider), runtime=worker_runtime(settings))
    # A dev server persisted by an older version lacks attributes added since: register them.
    await ensure_search_attributes(client, settings.temporal_namespace)
    server = EmbeddedServer(
        server_config(create_app(settings, provider), settings.api_host, settings.api_port, log_level="info")
    )
    async with render_worker(client, settings) as worker:
        worker_task = asyncio.create_task(worker.run())
        api_task = asyncio.create_task(server.serve())
        while not server.started:
            if api_task.done():
                api_task.result()  # raises the bind error
            await asyncio.sleep(0.05)
        _banner(settings, key, key_file)
        await wait_for_stop_signal()
        console.print("[bold]Stopping: API, worker, then the stack...[/]")
        server.should_exit = True
        await api_task
        await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task


def run_dev(settings: Settings) -> None:
    """Start the stack, migrate, run worker + API until Ctrl-C / SIGTERM, then stop everything."""
    state_dir = settings.state_dir.resolve()
    console.print(f"[bold]Starting the local stack in {state_dir} ...[/]")
    stack = LocalStack(state_dir, settings, ephemeral_ports=False, with_emulator=settings.uses_gemini_emulator)
    endpoints = stack.start()
    try:
        key_file = state_dir / "dev-api-key"
        saved = key_file.read_text().strip() if key_file.exists() else None
        asyncio.run(_serve(endpoints.apply(settings), key_file, saved))
    finally:
        stack.stop()
        console.print("[bold]Stopped.[/]")

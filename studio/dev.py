"""`studio dev`: the whole stack in the foreground on embedded defaults (no Docker, no keys)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.panel import Panel

from api.app import create_app
from db.session import create_engine, create_session_factory
from db.users import create_user, get_user_by_api_key
from studio.localstack import LocalStack
from studio.settings import Settings
from studio.temporal_client import connect
from studio.worker import render_worker

console = Console()
log = logging.getLogger(__name__)


async def ensure_dev_user(settings: Settings, key_file: Path) -> str:
    """Create the local user once and keep its API key in `key_file`; returns the key."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            if key_file.exists():
                key = key_file.read_text().strip()
                if await get_user_by_api_key(session, key) is not None:
                    return key
            _, key = await create_user(session, "local developer")
            await session.commit()
    finally:
        await engine.dispose()
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


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
            f"API key       {key}   (saved in {key_file})\n\n"
            f'Try: curl -H "Authorization: Bearer $(cat {key_file})" {base}/api/v1/projects',
            title="Render Studio is ready",
            style="bold green",
        )
    )


async def _serve(settings: Settings, key_file: Path) -> None:
    key = await ensure_dev_user(settings, key_file)
    client = await connect(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info")
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # we own signals
    async with render_worker(client, settings) as worker:
        worker_task = asyncio.create_task(worker.run())
        api_task = asyncio.create_task(server.serve())
        while not server.started:
            if api_task.done():
                api_task.result()  # raises the bind error
            await asyncio.sleep(0.05)
        _banner(settings, key, key_file)
        await stop.wait()
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
        asyncio.run(_serve(endpoints.apply(settings), state_dir / "dev-api-key"))
    finally:
        stack.stop()
        console.print("[bold]Stopped.[/]")

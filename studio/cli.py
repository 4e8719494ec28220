"""The `studio` command: run the stack locally, or each part against real services."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from clients.settings import get_settings
from studio.client.commands import register as register_client_commands
from studio.client.export_command import register as register_export_command
from studio.housekeeping_command import register as register_housekeeping_command

app = typer.Typer(help="Render Studio: durable AI image rendering on Temporal.", no_args_is_help=True)
console = Console()


def _logging(level: str, fmt: Literal["json", "text"] | None = None) -> None:
    from clients.logs import configure_logging

    configure_logging(level, fmt or get_settings().log_format)


@app.command()
def dev(log_level: str = "warning") -> None:
    """Run everything locally: Temporal dev server, Postgres, S3 (SeaweedFS), the Gemini emulator
    (unless GEMINI_API_KEY is set), migrations, the worker and the API on 127.0.0.1:8000."""
    from studio.dev import run_dev

    _logging(log_level, "text")
    run_dev(get_settings())


@app.command()
def api(log_level: str = "info") -> None:
    """Run the HTTP API and the web studio (at /) against the configured services (DATABASE_URL,
    TEMPORAL_ADDRESS, S3_*)."""
    import uvicorn

    from api.http_protocol import server_config
    from web.app import create_site

    settings = get_settings()
    _logging(log_level)
    config = server_config(
        create_site(settings), settings.api_host, settings.api_port, log_level=log_level, log_config=None
    )
    uvicorn.Server(config).run()


@app.command()
def worker(log_level: str = "info") -> None:
    """Run a worker on TEMPORAL_TASK_QUEUE; start more of them to scale out."""
    from clients.telemetry import build_tracer_provider, temporal_interceptors, worker_runtime
    from clients.temporal_client import connect, ensure_search_attributes
    from studio.worker import render_worker, run_until_signalled

    settings = get_settings()
    _logging(log_level)

    async def main() -> None:
        provider = build_tracer_provider(settings, "render-studio-worker")
        client = await connect(settings, interceptors=temporal_interceptors(provider), runtime=worker_runtime(settings))
        added = await ensure_search_attributes(client, settings.temporal_namespace)
        if added:
            console.print(f"registered search attributes: {', '.join(added)}")
        from studio.housekeeping_schedules import ensure_housekeeping_schedules

        schedules = await ensure_housekeeping_schedules(client, settings)
        console.print("housekeeping schedules: " + ", ".join(f"{k} ({v})" for k, v in schedules.items()))
        async with render_worker(client, settings) as w:
            console.print(f"worker polling task queue [bold]{settings.temporal_task_queue}[/]")
            await run_until_signalled(w)

    asyncio.run(main())


@app.command()
def migrate(
    revision: str = "head",
    create_bucket: Annotated[bool, typer.Option(help="also create S3_BUCKET when it is missing")] = False,
    schedules: Annotated[bool, typer.Option(help="also create or update the housekeeping schedules")] = False,
) -> None:
    """Apply database migrations (Alembic) to DATABASE_URL."""
    from db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    console.print(f"database migrated to {revision}")
    if schedules:
        from clients.temporal_client import connect
        from studio.housekeeping_schedules import ensure_housekeeping_schedules

        async def make_schedules() -> dict[str, str]:
            return await ensure_housekeeping_schedules(await connect(settings), settings)

        made = asyncio.run(make_schedules())
        console.print("housekeeping schedules: " + ", ".join(f"{k} ({v})" for k, v in made.items()))
    if create_bucket:
        from clients.object_store import ObjectStore, ObjectStoreUnavailable

        async def make_bucket() -> bool:
            async with ObjectStore.open(settings) as store:
                return await store.ensure_bucket(settings.aws_region)

        try:
            created = asyncio.run(make_bucket())
        except ObjectStoreUnavailable as exc:
            console.print(f"[red]bucket {settings.s3_bucket} not checked[/]: {exc}")
            raise typer.Exit(1) from exc
        console.print(f"bucket {settings.s3_bucket} {'created' if created else 'exists'}")


@app.command("create-user")
def create_user_cmd(name: str) -> None:
    """Create an API user and print its key (shown once; only its hash is stored)."""
    from db.session import create_engine, create_session_factory
    from db.users import create_user

    async def main() -> str:
        engine = create_engine(get_settings().database_url)
        async with create_session_factory(engine)() as session:
            _, key = await create_user(session, name)
            await session.commit()
        await engine.dispose()
        return key

    console.print(asyncio.run(main()))


@app.command()
def thumbnails(
    project: Annotated[str | None, typer.Option(help="only this project's assets (its id)")] = None,
    dry_run: Annotated[bool, typer.Option(help="only count the assets without a thumbnail")] = False,
) -> None:
    """Make the WebP thumbnail of every asset that has none (published before thumbnails)."""
    import uuid

    from activities.thumbnail_backfill import backfill_thumbnails
    from clients.object_store import ObjectStore
    from db.session import create_engine, create_session_factory

    try:
        project_id = uuid.UUID(project) if project else None
    except ValueError as exc:
        raise typer.BadParameter(f"not a project id: {project}") from exc

    async def main() -> None:
        settings = get_settings()
        engine = create_engine(settings.database_url)
        try:
            async with ObjectStore.open(settings) as store:
                report = await backfill_thumbnails(create_session_factory(engine), store, project_id, dry_run=dry_run)
        finally:
            await engine.dispose()
        verb = "would make" if dry_run else "made"
        console.print(
            f"{report.seen} assets without a thumbnail: {verb} {report.made}"
            f", image missing {report.missing_image}, undecodable {report.undecodable}"
        )

    asyncio.run(main())


@app.command("sign-in-link")
def sign_in_link_cmd(
    user: Annotated[str | None, typer.Option(help="user id or unique name (default: the `studio dev` user)")] = None,
    base_url: Annotated[str | None, typer.Option(help="the studio address (default: http://API_HOST:API_PORT)")] = None,
) -> None:
    """Print a one-click sign-in link for the web studio (one use, valid SIGN_IN_LINK_TTL_S seconds)."""
    from studio.sign_in_link import UnknownUser, new_sign_in_link, sign_in_url

    settings = get_settings()
    key_file = settings.state_dir / "dev-api-key"
    if user is None and not key_file.exists():
        raise typer.BadParameter(f"give --user (no {key_file} from `studio dev`)")
    key = None if user is not None else key_file.read_text().strip()
    try:
        token = asyncio.run(new_sign_in_link(settings, api_key=key, user=user))
    except UnknownUser as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    typer.echo(sign_in_url(settings, token, base_url))  # plain: scripts read it, terminals never wrap it


@app.command("export-history")
def export_history(
    workflow_id: str,
    out: Annotated[Path | None, typer.Option(help="file to write (default: <workflow_id>.json)")] = None,
) -> None:
    """Write a workflow's history as JSON, for `studio replay --file` or tests/histories/."""
    from clients.temporal_client import connect
    from studio.replay import fetch_history

    async def main() -> Path:
        history = await fetch_history(await connect(get_settings()), workflow_id)
        target = out or Path(f"{workflow_id}.json")
        target.write_text(history.to_json())
        return target

    console.print(f"wrote {asyncio.run(main())}")


@app.command()
def replay(
    workflow_id: Annotated[str | None, typer.Argument(help="fetch this workflow's history from the server")] = None,
    file: Annotated[Path | None, typer.Option(help="replay a history JSON file instead")] = None,
) -> None:
    """Replay a workflow history against the current code; exit 0 when deterministic."""
    from clients.temporal_client import connect
    from studio.replay import fetch_history, load_history, replay_history

    if (workflow_id is None) == (file is None):
        raise typer.BadParameter("give a WORKFLOW_ID or --file, not both")

    async def main() -> bool:
        if file is not None:
            history = load_history(file)
        else:
            assert workflow_id is not None
            history = await fetch_history(await connect(get_settings()), workflow_id)
        result = await replay_history(history)
        if result.replay_failure is not None:
            console.print(f"[red]NON-DETERMINISTIC[/] {history.workflow_id}: {result.replay_failure}")
            return False
        console.print(f"[green]replayed {history.workflow_id}[/]: {len(history.events)} events, deterministic")
        return True

    raise typer.Exit(0 if asyncio.run(main()) else 1)


register_client_commands(app)  # render, tasks, pull: HTTP clients of the API (studio/client/)
register_export_command(app)  # export: an export's file over the API (studio/client/export_command.py)
register_housekeeping_command(app)  # housekeeping JOB: run a housekeeping job now

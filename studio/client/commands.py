"""`studio render`, `studio tasks`, `studio pull`: typer commands over `StudioApi`.

Exit codes: 0 done; 1 the API refused (its `error.code` and `error.message` are printed) or
could not be reached; 2 bad usage (typer's own, a missing file or key); 3 the task ended
without an image (its error code and message are printed).
"""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.client.api import ApiError, ClientConfig, MissingKey, StudioApi, Unreachable

DEFAULT_PROJECT = "default"
UPLOAD_TYPES = {"image/png", "image/jpeg", "image/webp"}
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
EXIT_API, EXIT_USAGE, EXIT_TASK_FAILED = 1, 2, 3

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(action: Callable[[StudioApi], T]) -> T:
    """Run `action` with a client from the environment; API and connection errors become a
    message on stderr and exit 1, a missing key exit 2. Never a traceback."""
    try:
        config = ClientConfig.from_env()
    except MissingKey as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        with StudioApi(config) as api:
            return action(api)
    except ApiError as exc:
        err.print(f"[red]error[/] {escape(exc.code)}: {escape(exc.message)}", highlight=False)
        raise typer.Exit(EXIT_API) from exc
    except Unreachable as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}\n(is the API running? set STUDIO_API_URL; now {config.api_url})")
        raise typer.Exit(EXIT_API) from exc


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def resolve_project(api: StudioApi, project: str | None, *, create: bool) -> dict[str, Any]:
    """The project named or identified by `project` (default: "default"). A name that the caller
    has no project for is created when `create` (with a note on stderr), else an ApiError 404."""
    if project and _is_uuid(project):
        return api.project(project)
    name = project or DEFAULT_PROJECT
    found = api.find_project(name)
    if found is not None:
        return found
    if not create:
        raise ApiError(404, "not_found", f"you have no project named {name!r}")
    err.print(f"created project [bold]{escape(name)}[/]")
    return api.create_project(name)


def _content_type(path: Path) -> str:
    """The image type of `path` from its extension; exit 2 for anything but PNG, JPEG, WebP."""
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed not in UPLOAD_TYPES:
        raise typer.BadParameter(f"{path}: not a PNG, JPEG or WebP file (by its name)", param_hint="--ref")
    return str(guessed)


def _check_refs(refs: list[str]) -> list[str | Path]:
    """Each --ref as an asset id (a UUID) or an existing file; exit 2 otherwise (before any call)."""
    checked: list[str | Path] = []
    for ref in refs:
        if _is_uuid(ref):
            checked.append(ref)
            continue
        path = Path(ref).expanduser()
        if not path.is_file():
            raise typer.BadParameter(f"{ref}: neither an asset id nor a file", param_hint="--ref")
        _content_type(path)
        checked.append(path)
    return checked


def download_task(api: StudioApi, task: dict[str, Any], out_dir: Path) -> list[Path]:
    """Download the task's images into `out_dir` as `<task id>-<variation>.<ext>`, checking each
    file's SHA-256 against the asset's; returns the paths. Raises ApiError on a mismatch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for asset in api.task_assets(str(task["project_id"]), str(task["id"])):
        ext = EXTENSIONS.get(str(asset.get("content_type", "")), ".png")
        target = out_dir / f"{task['id']}-{asset.get('variation_index') or 0}{ext}"
        api.download(asset["url"], target)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest != asset["sha256"]:
            target.unlink(missing_ok=True)
            raise ApiError(0, "checksum_mismatch", f"{target.name}: the downloaded bytes are not the asset's")
        paths.append(target)
    return paths


def _report_failure(task: dict[str, Any]) -> None:
    """Print why the task, or some of its variations, did not deliver."""
    error = task.get("error") or {}
    if task["status"] != "succeeded":
        code, message = str(error.get("code") or task["status"]), str(error.get("message", ""))
        err.print(f"[red]task {task['status']}[/] {escape(code)}: {escape(message)}", highlight=False)
    for variation in task.get("variations") or []:
        if variation.get("state") == "failed" and variation.get("error"):
            code, message = escape(variation["error"]["code"]), escape(variation["error"]["message"])
            err.print(f"variation {variation['index']} failed {code}: {message}", highlight=False)


def render(
    prompt: Annotated[str, typer.Argument(help="what to render")],
    project: Annotated[
        str | None, typer.Option(help="project name or id (default: 'default'; a new name is created)")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="number of variations (1-8)")] = 1,
    aspect: Annotated[str | None, typer.Option(help="aspect ratio, e.g. 16:9 (default: the API's, 1:1)")] = None,
    size: Annotated[str | None, typer.Option(help="image size: 1K, 2K or 4K (models that have sizes)")] = None,
    model: Annotated[str | None, typer.Option(help="model id (see GET /api/v1/models)")] = None,
    asset_type: Annotated[str | None, typer.Option(help="asset type (see GET /api/v1/asset-types)")] = None,
    ref: Annotated[
        list[str] | None, typer.Option(help="reference image: an asset id, or a PNG/JPEG/WebP file to upload (repeat)")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the images")] = Path("renders"),
    name: Annotated[str | None, typer.Option(help="task name (default: the prompt's start)")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="send this Idempotency-Key (re-running with it returns the same task)")
    ] = None,
) -> None:
    """Render PROMPT: create the task, show its progress live, download the images, print their paths."""
    refs = _check_refs(ref or [])

    def action(api: StudioApi) -> int:
        owner = resolve_project(api, project, create=True)
        reference_ids = [
            r if isinstance(r, str) else str(api.upload(owner["id"], r, _content_type(r))["id"]) for r in refs
        ]
        body: dict[str, Any] = {"name": name or " ".join(prompt.split())[:60] or "render", "prompt": prompt, "n": n}
        optional = {"aspect_ratio": aspect, "image_size": size, "model": model, "asset_type": asset_type}
        body.update({k: v for k, v in optional.items() if v is not None})
        if reference_ids:
            body["reference_asset_ids"] = reference_ids
        task = api.create_task(owner["id"], body, idempotency_key or str(uuid.uuid4()))
        err.print(f"task [bold]{task['id']}[/] in project {escape(owner['name'])}  {task.get('temporal_ui_url', '')}")
        from studio.client.progress import follow

        final = follow(api, task, err)
        _report_failure(final)
        if final["status"] != "succeeded":
            return EXIT_TASK_FAILED
        for path in download_task(api, final, out_dir):
            out.print(str(path), highlight=False, soft_wrap=True)
        return 0

    code = _run(action)
    if code:
        raise typer.Exit(code)


def tasks(
    project: Annotated[str | None, typer.Option(help="project name or id (default: 'default')")] = None,
    status: Annotated[str | None, typer.Option(help="only tasks with this status, e.g. succeeded, failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many, newest first")] = 50,
) -> None:
    """List a project's tasks, newest first."""

    def action(api: StudioApi) -> None:
        owner = resolve_project(api, project, create=False)
        table = Table(title=f"tasks of {owner['name']}")
        for column in ("id", "name", "status", "n", "created", "error"):
            table.add_column(column, overflow="fold")
        for task in api.tasks(owner["id"], status, limit):
            status_text = task["status"] if task["status"] != "running" else f"running/{task.get('stage')}"
            error = (task.get("error") or {}).get("code", "")
            n_images = str(task.get("parameters", {}).get("n", ""))
            table.add_row(task["id"], task["name"], status_text, n_images, task["created_at"][:19], error)
        out.print(table)

    _run(action)


def pull(
    task_id: Annotated[str, typer.Argument(help="the task's id")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the images")] = Path("renders"),
) -> None:
    """Download a finished task's images and print their paths."""
    if not _is_uuid(task_id):
        raise typer.BadParameter(f"not a task id: {task_id}", param_hint="TASK_ID")

    def action(api: StudioApi) -> int:
        task = api.task(task_id)
        if task["status"] in ("queued", "running"):
            err.print(f"task {task_id} is still {task['status']}: try again when it has finished")
            return EXIT_API
        paths = download_task(api, task, out_dir)
        if not paths:
            _report_failure(task)
            return EXIT_TASK_FAILED
        for path in paths:
            out.print(str(path), highlight=False, soft_wrap=True)
        return 0

    code = _run(action)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `render`, `tasks` and `pull` to the `studio` command."""
    app.command()(render)
    app.command()(tasks)
    app.command()(pull)

"""`studio export PROJECT --format zip --out FILE`: start an export of a project's assets over
the API, show its progress, download the file and check its SHA-256. Every filter and option of
POST /projects/{id}/exports is a flag (`--state`, `--created-after`, `--width`, `--fps`, ...),
sent as given: the API validates them.

Exit codes as the other client commands: 0 done; 1 the API refused (its error code and message
are printed) or could not be reached; 2 bad usage; 3 the export ended without a file.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from studio.client.api import ApiError, ClientConfig, MissingKey, StudioApi, Unreachable
from studio.client.commands import EXIT_API, EXIT_TASK_FAILED, EXIT_USAGE, resolve_project

TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "terminated", "expired"}
POLL_S = 0.5
err = Console(stderr=True)
out = Console()


class ExportApi(StudioApi):
    """The export endpoints, beside the task ones of `StudioApi`."""

    def create_export(self, project_id: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Start an export (202; 200 for a key already used)."""
        headers = {"Idempotency-Key": idempotency_key}
        return dict(self._call("POST", f"/projects/{project_id}/exports", json=body, headers=headers))

    def export(self, export_id: str) -> dict[str, Any]:
        """One export with its live status."""
        return dict(self._call("GET", f"/exports/{export_id}"))


def follow_export(api: ExportApi, export: dict[str, Any]) -> dict[str, Any]:
    """Poll the export until it is terminal, with a progress bar of images done; its final view."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        step = bar.add_task(export["status"], total=export["progress"]["total"])
        while export["status"] not in TERMINAL:
            time.sleep(POLL_S)
            export = api.export(export["id"])
            bar.update(step, description=export["status"], completed=export["progress"]["done"])
    return export


# Which format reads which option (kernel.exports.ExportOptions; the API ignores the others).
FORMAT_OPTIONS = {
    "contact_sheet": {"columns", "thumb_px"},
    "mp4": {"width", "height", "fps", "seconds_per_image", "crossfade_s"},
}


def export(
    project: Annotated[str, typer.Argument(help="project name or id")],
    out_file: Annotated[Path, typer.Option("--out", help="file to write")],
    fmt: Annotated[Literal["zip", "contact_sheet", "mp4"], typer.Option("--format", help="what to make")] = "zip",
    state: Annotated[str | None, typer.Option(help="only assets in this state (draft, approved, archived)")] = None,
    task: Annotated[str | None, typer.Option(help="only this task's assets (its id)")] = None,
    asset_type: Annotated[str | None, typer.Option(help="only assets of this type, e.g. upload")] = None,
    visibility: Annotated[str | None, typer.Option(help="only private or only public assets")] = None,
    created_after: Annotated[
        str | None, typer.Option(help="only assets created at or after this ISO 8601 date-time (UTC without offset)")
    ] = None,
    created_before: Annotated[
        str | None, typer.Option(help="only assets created before this ISO 8601 date-time (UTC without offset)")
    ] = None,
    asset: Annotated[list[str] | None, typer.Option(help="these assets, in this order (repeatable)")] = None,
    columns: Annotated[
        int | None, typer.Option(help="contact sheet: columns of the grid, 1-20 (default: square root of the count)")
    ] = None,
    thumb_px: Annotated[
        int | None, typer.Option(help="contact sheet: long side of each cell's image, 64-512 pixels (default 256)")
    ] = None,
    width: Annotated[int | None, typer.Option(help="mp4: frame width, even, 64-3840 pixels (default 1280)")] = None,
    height: Annotated[int | None, typer.Option(help="mp4: frame height, even, 64-2160 pixels (default 720)")] = None,
    fps: Annotated[int | None, typer.Option(help="mp4: frames per second, 1-60 (default 24)")] = None,
    seconds_per_image: Annotated[
        float | None, typer.Option(help="mp4: how long each image is shown, up to 30 seconds (default 2)")
    ] = None,
    crossfade: Annotated[
        float | None,
        typer.Option(help="mp4: seconds of each crossfade, shorter than --seconds-per-image (default 0: cuts)"),
    ] = None,
) -> None:
    """Export a project's assets (all, or those matching the filters, or the --asset ids) as a
    ZIP with manifests, a contact sheet PNG or an MP4 slideshow, and download it to --out. The
    API checks every value: a bad one is its error (code and message), exit 1."""
    filters = {
        "state": state,
        "task_id": task,
        "asset_type": asset_type,
        "visibility": visibility,
        "created_after": created_after,
        "created_before": created_before,
    }
    chosen_filter = {k: v for k, v in filters.items() if v is not None}
    if asset and chosen_filter:
        raise typer.BadParameter("give --asset ids or filters (--state, --task, ...), not both")
    options = {
        "columns": columns,
        "thumb_px": thumb_px,
        "width": width,
        "height": height,
        "fps": fps,
        "seconds_per_image": seconds_per_image,
        "crossfade_s": crossfade,
    }
    chosen_options = {k: v for k, v in options.items() if v is not None}
    if stray := sorted(set(chosen_options) - FORMAT_OPTIONS.get(fmt, set())):
        flags = ", ".join("--" + ("crossfade" if k == "crossfade_s" else k.replace("_", "-")) for k in stray)
        raise typer.BadParameter(f"{flags} do not apply to --format {fmt}")
    body: dict[str, Any] = {"format": fmt}
    if asset:
        body["asset_ids"] = asset
    elif chosen_filter:
        body["filter"] = chosen_filter
    if chosen_options:
        body["options"] = chosen_options
    try:
        config = ClientConfig.from_env()
    except MissingKey as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        with ExportApi(config) as api:
            owner = resolve_project(api, project, create=False)
            started = api.create_export(owner["id"], body, str(uuid.uuid4()))
            err.print(f"export [bold]{started['id']}[/] of {owner['name']}  {started['temporal_ui_url']}")
            final = follow_export(api, started)
            if final["status"] != "succeeded" or not final.get("url"):
                error = final.get("error") or {}
                err.print(f"[red]export {final['status']}[/] {error.get('code', '')}: {error.get('message', '')}")
                raise typer.Exit(EXIT_TASK_FAILED)
            size = api.download(final["url"], out_file)
    except ApiError as exc:
        err.print(f"[red]error[/] {exc.code}: {exc.message}", highlight=False)
        raise typer.Exit(EXIT_API) from exc
    except Unreachable as exc:
        err.print(f"[red]error[/]: {exc}\n(is the API running? set STUDIO_API_URL; now {config.api_url})")
        raise typer.Exit(EXIT_API) from exc
    with out_file.open("rb") as written:
        digest = hashlib.file_digest(written, "sha256").hexdigest()
    if digest != final["sha256"] or size != final["size"]:
        err.print(f"[red]error[/]: {out_file} does not match the export (sha256 {digest}, {size} bytes)")
        raise typer.Exit(EXIT_API)
    out.print(str(out_file), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `export` to the `studio` command."""
    app.command()(export)

"""`studio housekeeping JOB [--dry-run]`: run one housekeeping job now (the workflow its
schedule starts, on TEMPORAL_TASK_QUEUE: a worker must be running) and print its report."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Literal

import typer
from rich.console import Console

from clients.settings import get_settings

console = Console()


def housekeeping(
    job: Annotated[
        Literal["expire_exports", "expire_idempotency_keys", "sweep_staging", "sweep_uploads"], typer.Argument()
    ],
    dry_run: Annotated[bool, typer.Option(help="report what would be removed; remove nothing")] = False,
) -> None:
    """Run a housekeeping job now with the configured thresholds and print what it removed."""
    from clients.temporal_client import connect
    from kernel.contract import HOUSEKEEPING_WORKFLOW
    from kernel.exports import HousekeepingReport
    from studio.housekeeping_schedules import housekeeping_input

    settings = get_settings()
    inp = housekeeping_input(settings, job)
    inp.dry_run = dry_run or inp.dry_run

    async def main() -> HousekeepingReport:
        client = await connect(settings)
        report: HousekeepingReport = await client.execute_workflow(
            HOUSEKEEPING_WORKFLOW,
            inp,
            id=f"housekeeping-{job.replace('_', '-')}-manual-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
            result_type=HousekeepingReport,
        )
        return report

    report = asyncio.run(main())
    console.print(f"{job}: {'would remove' if report.dry_run else 'removed'} {report.removed}")
    for example in report.examples:
        console.print(f"  {example}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `housekeeping` to the `studio` command."""
    app.command()(housekeeping)

"""The housekeeping Temporal Schedules (issue 13): one per job, each starting a
`HousekeepingWorkflow` every HOUSEKEEPING_INTERVAL_S seconds on the worker's task queue, with
the thresholds and dry-run flag of the settings as its argument (visible in the Temporal UI
under Schedules).

Created idempotently by `studio worker` at start and by `studio migrate --schedules`: an
existing schedule is updated to the current settings (its paused state kept), so changing a
setting and restarting a worker is all it takes. Overlapping runs are skipped (a slow run is
never doubled).
"""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from clients.settings import Settings
from kernel.contract import HOUSEKEEPING_WORKFLOW, housekeeping_schedule_id
from kernel.exports import HousekeepingInput, HousekeepingJob

JOBS: tuple[HousekeepingJob, ...] = get_args(HousekeepingJob)
# Each job's runs start this far apart within the interval, so they do not all hit S3 and
# Postgres at the same second.
_OFFSET_STEP = timedelta(minutes=5)


def housekeeping_input(settings: Settings, job: HousekeepingJob) -> HousekeepingInput:
    """The argument of `job`'s scheduled runs, from `settings`."""
    return HousekeepingInput(
        job=job,
        dry_run=settings.housekeeping_dry_run,
        export_retention_days=settings.export_retention_days,
        idempotency_key_ttl_days=settings.idempotency_key_ttl_days,
        staging_min_age_s=settings.staging_sweep_min_age_s,
        upload_abandon_after_s=settings.upload_abandon_after_s,
    )


def housekeeping_schedule(settings: Settings, job: HousekeepingJob, task_queue: str) -> Schedule:
    """The schedule of `job`: every HOUSEKEEPING_INTERVAL_S seconds, overlaps skipped."""
    every = timedelta(seconds=settings.housekeeping_interval_s)
    offset = (_OFFSET_STEP * JOBS.index(job)) % every
    return Schedule(
        action=ScheduleActionStartWorkflow(
            HOUSEKEEPING_WORKFLOW,
            housekeeping_input(settings, job),
            id=f"housekeeping-{job.replace('_', '-')}",
            task_queue=task_queue,
            execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=offset)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_housekeeping_schedules(
    client: Client, settings: Settings, task_queue: str | None = None
) -> dict[str, str]:
    """Create each job's schedule, or update it to the current settings when it exists;
    returns schedule id -> "created" | "updated". Raises RPCError when Temporal does not answer."""
    queue = task_queue or settings.temporal_task_queue
    outcome: dict[str, str] = {}
    for job in JOBS:
        schedule_id = housekeeping_schedule_id(job)
        schedule = housekeeping_schedule(settings, job, queue)
        try:
            await client.create_schedule(schedule_id, schedule)
            outcome[schedule_id] = "created"
        except ScheduleAlreadyRunningError:

            def update(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                new.state = current.description.schedule.state  # an operator's pause stands
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(schedule_id).update(update)
            outcome[schedule_id] = "updated"
    return outcome

"""`HousekeepingWorkflow`: one housekeeping job run, started by its Temporal Schedule
(studio/housekeeping_schedules.py) or directly (tests, an operator). See
activities/housekeeping.py for what each job removes."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.housekeeping import HousekeepingActivities
    from kernel.contract import HOUSEKEEPING_WORKFLOW
    from kernel.exports import HousekeepingInput, HousekeepingReport

HOUSEKEEPING_START_TO_CLOSE = timedelta(minutes=30)
HOUSEKEEPING_HEARTBEAT = timedelta(minutes=2)
HOUSEKEEPING_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=5))


@workflow.defn(name=HOUSEKEEPING_WORKFLOW)
class HousekeepingWorkflow:
    """Runs one job and returns its report (what was removed or, dry, would be)."""

    @workflow.run
    async def run(self, inp: HousekeepingInput) -> HousekeepingReport:
        """Run `inp.job`; raises the activity's error after HOUSEKEEPING_RETRY's attempts (the
        schedule's next run tries again)."""
        job = {
            "expire_exports": HousekeepingActivities.expire_export_files,
            "expire_idempotency_keys": HousekeepingActivities.expire_idempotency_keys,
            "sweep_staging": HousekeepingActivities.sweep_staged_objects,
            "sweep_uploads": HousekeepingActivities.sweep_abandoned_uploads,
        }[inp.job]
        report: HousekeepingReport = await workflow.execute_activity_method(
            job,
            inp,
            start_to_close_timeout=HOUSEKEEPING_START_TO_CLOSE,
            heartbeat_timeout=HOUSEKEEPING_HEARTBEAT,
            retry_policy=HOUSEKEEPING_RETRY,
        )
        return report

"""`GeminiBatchJobWorkflow`: one Gemini batch job, from submit to each task's outcome.

Started by the collector with the items of one job. It tells each task which job it is in
(`batch_assigned`), submits the job (idempotent: named after this workflow's id), then reads
its state with durable timers between short activities (poll_initial_s, x1.5 each time, up to
poll_max_s: a 24-hour job costs a few hundred small events and survives any restart), and once
it finished stages the images (SUCCEEDED) or explains the failure (EXPIRED -> `batch_expired`,
FAILED or canceled elsewhere -> `batch_failed`), then signals each task its outcomes
(`batch_results`). Withdrawn tasks (canceled) get nothing; when every task withdrew, the Gemini
job is canceled (or never submitted).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.gemini_batch import BatchActivities
    from kernel import failure_codes
    from kernel.batch_payloads import (
        BatchAssigned,
        BatchItem,
        BatchItemOutcome,
        BatchJobInput,
        BatchJobRef,
        BatchResults,
        StageBatchInput,
        SubmitBatchInput,
        WithdrawTask,
    )
    from kernel.contract import (
        BATCH_ASSIGNED_SIGNAL,
        BATCH_RESULTS_SIGNAL,
        GEMINI_BATCH_JOB_WORKFLOW,
        WITHDRAW_SIGNAL,
    )
    from kernel.payloads import TaskError
    from workflows import retry_policies

# Talking to the Batch API: a minute per call (a submit uploads up to 20 MB of requests, a read
# of a finished job downloads its images), retried with backoff for an hour before giving up.
BATCH_CALL_START_TO_CLOSE = timedelta(minutes=5)
BATCH_CALL_HEARTBEAT = timedelta(seconds=30)
BATCH_CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=0,
    non_retryable_error_types=[failure_codes.INVALID_REQUEST, failure_codes.BATCH_FAILED],
)
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def _error_of(err: ActivityError) -> TaskError:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return TaskError(code=failure_codes.api_code(cause.type), message=cause.message)
    return TaskError(code="internal", message=str(cause or err))


def _job_error(state: str, job_name: str) -> TaskError:
    if state == "JOB_STATE_EXPIRED":
        return TaskError(
            code=failure_codes.api_code(failure_codes.BATCH_EXPIRED),
            message=f"Gemini batch job {job_name} expired before it ran (Google runs a job within 48 hours)",
        )
    if state == "JOB_STATE_CANCELLED":
        return TaskError(
            code=failure_codes.api_code(failure_codes.BATCH_FAILED),
            message=f"Gemini batch job {job_name} was canceled outside this service",
        )
    return TaskError(
        code=failure_codes.api_code(failure_codes.BATCH_FAILED), message=f"Gemini batch job {job_name} failed ({state})"
    )


@workflow.defn(name=GEMINI_BATCH_JOB_WORKFLOW)
class GeminiBatchJobWorkflow:
    """One Gemini batch job (see module docstring). Returns the job's final state name."""

    def __init__(self) -> None:
        self._withdrawn: set[str] = set()

    @workflow.signal(name=WITHDRAW_SIGNAL)
    def withdraw(self, withdraw: WithdrawTask) -> None:
        """A task was canceled: its items get no outcome; the job is canceled when all are."""
        self._withdrawn.add(withdraw.task_workflow_id)

    def _tasks(self, items: list[BatchItem]) -> list[str]:
        return list(dict.fromkeys(item.task_workflow_id for item in items))

    def _all_withdrawn(self, items: list[BatchItem]) -> bool:
        return all(item.task_workflow_id in self._withdrawn for item in items)

    async def _tell(self, task: str, signal: str, arg: BatchAssigned | BatchResults) -> None:
        """Signal a task; one that has finished (canceled, terminated) is skipped."""
        if task in self._withdrawn:
            return
        try:
            await workflow.get_external_workflow_handle(task).signal(signal, arg)
        except FailureError:
            workflow.logger.info("task %s is not running; %s not delivered", task, signal)

    async def _assign(self, items: list[BatchItem], wid: str, job_name: str | None) -> None:
        """Tell each task which of its variations this job holds."""
        indexes: dict[str, list[int]] = {}
        for item in items:
            indexes.setdefault(item.task_workflow_id, []).append(item.variation_index)
        await asyncio.gather(
            *(
                self._tell(
                    task,
                    BATCH_ASSIGNED_SIGNAL,
                    BatchAssigned(job_workflow_id=wid, variation_indexes=ix, job_name=job_name),
                )
                for task, ix in indexes.items()
            )
        )

    async def _deliver(self, items: list[BatchItem], outcomes: list[BatchItemOutcome], job_name: str | None) -> None:
        by_task: dict[str, list[BatchItemOutcome]] = {task: [] for task in self._tasks(items)}
        for outcome in outcomes:
            by_task[outcome.task_workflow_id].append(outcome)
        await asyncio.gather(
            *(
                self._tell(task, BATCH_RESULTS_SIGNAL, BatchResults(job_name=job_name, outcomes=task_outcomes))
                for task, task_outcomes in by_task.items()
                if task_outcomes
            )
        )

    async def _fail_all(self, items: list[BatchItem], error: TaskError, job_name: str | None) -> None:
        outcomes = [
            BatchItemOutcome(task_workflow_id=item.task_workflow_id, variation_index=item.variation_index, error=error)
            for item in items
        ]
        await self._deliver(items, outcomes, job_name)

    @workflow.run
    async def run(self, inp: BatchJobInput) -> str:
        """Submit, wait, stage, deliver (see module docstring)."""
        wid = workflow.info().workflow_id
        items = inp.items
        await self._assign(items, wid, None)
        if self._all_withdrawn(items):
            return "WITHDRAWN"
        try:
            ref: BatchJobRef = await workflow.execute_activity_method(
                BatchActivities.submit_batch_job,
                SubmitBatchInput(display_name=wid, model=inp.model, items=items),
                start_to_close_timeout=BATCH_CALL_START_TO_CLOSE,
                schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=BATCH_CALL_HEARTBEAT,
                retry_policy=BATCH_CALL_RETRY,
            )
        except ActivityError as err:
            await self._fail_all(items, _error_of(err), None)
            return "NOT_SUBMITTED"
        await self._assign(items, wid, ref.job_name)

        state = await self._wait(inp, ref)
        if state == "WITHDRAWN":
            await workflow.execute_activity_method(
                BatchActivities.cancel_batch_job,
                ref,
                start_to_close_timeout=BATCH_CALL_START_TO_CLOSE,
                schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=BATCH_CALL_HEARTBEAT,
                retry_policy=BATCH_CALL_RETRY,
            )
            return "JOB_STATE_CANCELLED"
        if state != "JOB_STATE_SUCCEEDED":
            await self._fail_all(items, _job_error(state, ref.job_name), ref.job_name)
            return state
        skip = [item.key for item in items if item.task_workflow_id in self._withdrawn]
        try:
            staged = await workflow.execute_activity_method(
                BatchActivities.stage_batch_results,
                StageBatchInput(job_name=ref.job_name, items=items, skip=skip),
                start_to_close_timeout=BATCH_CALL_START_TO_CLOSE,
                schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=BATCH_CALL_HEARTBEAT,
                retry_policy=BATCH_CALL_RETRY,
            )
        except ActivityError as err:
            await self._fail_all(items, _error_of(err), ref.job_name)
            return state
        await self._deliver(items, staged.outcomes, ref.job_name)
        return state

    async def _wait(self, inp: BatchJobInput, ref: BatchJobRef) -> str:
        """Read the job with growing pauses until it finished (its state) or every task
        withdrew ("WITHDRAWN"). A read that keeps failing past its retries is tried again at
        the next pause; only a non-retryable one (the job is gone) ends the wait as FAILED."""
        delay = inp.settings.poll_initial_s
        while True:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._all_withdrawn(inp.items), timeout=timedelta(seconds=delay))
            if self._all_withdrawn(inp.items):
                return "WITHDRAWN"
            try:
                read = await workflow.execute_activity_method(
                    BatchActivities.get_batch_job_state,
                    ref,
                    start_to_close_timeout=BATCH_CALL_START_TO_CLOSE,
                    schedule_to_close_timeout=retry_policies.DURABLE_SCHEDULE_TO_CLOSE,
                    heartbeat_timeout=BATCH_CALL_HEARTBEAT,
                    retry_policy=BATCH_CALL_RETRY,
                )
            except ActivityError as err:
                if err.retry_state == RetryState.NON_RETRYABLE_FAILURE:
                    return "JOB_STATE_FAILED"
                workflow.logger.warning("reading batch job %s failed; trying again later: %s", ref.job_name, err)
            else:
                if read.state in TERMINAL:
                    return read.state
            delay = min(delay * 1.5, inp.settings.poll_max_s)

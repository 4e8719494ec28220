"""`BatchCollectorWorkflow`: gathers batch tasks' variations for one model into Gemini batch jobs.

One per model and task queue (id `batch_collector_id`), started or signalled by the
`enqueue_batch_items` activity (signal-with-start). It waits for a first item, then gathers
for up to `gather_s` seconds or until `max_items` wait (or `max_output_bytes` of estimated
answers: a job's inline output is read whole by one worker), and starts one
`GeminiBatchJobWorkflow` child per job (abandoned on close: the job outlives the collector's
run). A task's items stay together in one job unless the task alone is over either bound.

Withdrawals (a canceled task): items still here are dropped; items already handed to a job are
forwarded there (`recent` remembers the job of the last RECENT_TASKS tasks). History stays
bounded: continue-as-new after `jobs_per_run` jobs (or when Temporal suggests it), carrying the
waiting items; an idle collector ends after IDLE (the next signal-with-start starts a new run).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from kernel.batch_payloads import (
        INLINE_REQUEST_LIMIT_BYTES,
        AddBatchItems,
        BatchItem,
        BatchJobInput,
        BatchSettings,
        CollectorInput,
        WithdrawTask,
    )
    from kernel.contract import ADD_BATCH_ITEMS_SIGNAL, BATCH_COLLECTOR_WORKFLOW, WITHDRAW_SIGNAL
    from workflows.batch_job import GeminiBatchJobWorkflow

RECENT_TASKS = 2000
PATCH_OUTPUT_BYTES = "batch-job-output-bytes"
IDLE = timedelta(minutes=10)


def take_job(
    pending: list[BatchItem], max_items: int, max_bytes: int | None = None
) -> tuple[list[BatchItem], list[BatchItem]]:
    """(the next job's items, the rest): whole tasks in arrival order up to `max_items` items
    and, when `max_bytes` is given, up to `max_bytes` of estimated answers
    (`BatchItem.answer_bytes`) and Google's INLINE_REQUEST_LIMIT_BYTES of requests; a first task
    over a bound is split, and a job always takes at least one item."""
    tasks: dict[str, list[BatchItem]] = {}
    for item in pending:
        tasks.setdefault(item.task_workflow_id, []).append(item)
    job: list[BatchItem] = []
    size = _Size()
    for items in tasks.values():
        bigger = size.plus(items)
        if job and not bigger.within(max_items, max_bytes):
            break
        job.extend(items)
        size = bigger
    taken: list[BatchItem] = []
    size = _Size()
    for item in job:
        bigger = size.plus([item])
        if taken and not bigger.within(max_items, max_bytes):
            break
        taken.append(item)
        size = bigger
    taken_keys = {item.key for item in taken}
    return taken, [item for item in pending if item.key not in taken_keys]


@dataclass(frozen=True)
class _Size:
    """A job's running size: items, estimated answer bytes and request bytes (summed once per
    item as the job grows, not again for every candidate)."""

    items: int = 0
    answers: int = 0
    requests: int = 0

    def plus(self, items: list[BatchItem]) -> _Size:
        return _Size(
            self.items + len(items),
            self.answers + sum(item.answer_bytes for item in items),
            self.requests + sum(item.request_bytes for item in items),
        )

    def within(self, max_items: int, max_bytes: int | None) -> bool:
        if self.items > max_items:
            return False
        return max_bytes is None or (self.answers <= max_bytes and self.requests <= INLINE_REQUEST_LIMIT_BYTES)


@workflow.defn(name=BATCH_COLLECTOR_WORKFLOW)
class BatchCollectorWorkflow:
    """Collector of one model's batch items (see module docstring)."""

    def __init__(self) -> None:
        self._pending: list[BatchItem] = []
        self._recent: dict[str, list[str]] = {}
        self._forwards: list[tuple[str, str]] = []  # (job workflow id, task workflow id)
        self._settings: BatchSettings | None = None
        self._max_items = 1
        self._max_bytes: int | None = None

    def _full(self) -> bool:
        return len(self._pending) >= self._max_items or (
            self._max_bytes is not None and not _Size().plus(self._pending).within(len(self._pending), self._max_bytes)
        )

    @workflow.signal(name=ADD_BATCH_ITEMS_SIGNAL)
    def add_items(self, add: AddBatchItems) -> None:
        """Queue a task's items (ignoring items already here or already handed to a job)."""
        self._settings = add.settings
        self._add(add.items)

    def _add(self, items: list[BatchItem], carried: bool = False) -> None:
        """Queue `items` not already here (by key). Signalled items (`carried` False) of a task
        already handed to a job are a retried enqueue and are dropped; items carried over by
        continue-as-new are the rest of a task split across jobs and are always kept."""
        keys = {item.key for item in self._pending}
        for item in items:
            # A task seen in a job already sent all its items in one signal: a second signal
            # of them is a retried enqueue (items still here are deduplicated by key).
            if item.key not in keys and (carried or item.task_workflow_id not in self._recent):
                self._pending.append(item)
                keys.add(item.key)

    @workflow.signal(name=WITHDRAW_SIGNAL)
    def withdraw(self, withdraw: WithdrawTask) -> None:
        """Drop a canceled task's items, or forward the withdrawal to the job that has them."""
        self._pending = [item for item in self._pending if item.task_workflow_id != withdraw.task_workflow_id]
        for job in self._recent.get(withdraw.task_workflow_id, []):
            self._forwards.append((job, withdraw.task_workflow_id))

    async def _flush_forwards(self) -> None:
        while self._forwards:
            job, task = self._forwards.pop(0)
            try:
                await workflow.get_external_workflow_handle(job).signal(
                    WITHDRAW_SIGNAL, WithdrawTask(task_workflow_id=task)
                )
            except FailureError:
                workflow.logger.info("job %s no longer running; withdrawal of %s dropped", job, task)

    @workflow.run
    async def run(self, inp: CollectorInput) -> None:
        """Gather and submit until idle for IDLE (or continue-as-new after `jobs_per_run` jobs)."""
        self._recent = {**inp.recent, **self._recent}
        signalled, self._pending = self._pending, []
        self._add(inp.pending, carried=True)
        self._add(signalled)
        jobs = 0
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._pending or self._forwards), timeout=IDLE)
            except TimeoutError:
                if not self._pending and not self._forwards:
                    return
            await self._flush_forwards()
            if not self._pending:
                continue
            settings = self._settings or inp.settings
            # Jobs bounded by their answers' and requests' sizes too (patch: collectors running
            # before it keep splitting by count alone).
            self._max_bytes = settings.max_output_bytes if workflow.patched(PATCH_OUTPUT_BYTES) else None
            if settings.gather_s > 0:
                self._max_items = settings.max_items
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._full, timeout=timedelta(seconds=settings.gather_s))
            await self._flush_forwards()
            if not self._pending:
                continue
            taken, self._pending = take_job(self._pending, settings.max_items, self._max_bytes)
            job_id = f"gemini-batch-{inp.model}-{workflow.uuid4()}"
            for task in dict.fromkeys(item.task_workflow_id for item in taken):
                # Before the start's await, so a withdrawal meanwhile is forwarded.
                self._recent[task] = [*self._recent.pop(task, []), job_id]
            while len(self._recent) > RECENT_TASKS:
                self._recent.pop(next(iter(self._recent)))
            await workflow.start_child_workflow(
                GeminiBatchJobWorkflow.run,
                BatchJobInput(model=inp.model, items=taken, settings=settings),
                id=job_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
            workflow.logger.info("batch job workflow %s started with %d items", job_id, len(taken))
            jobs += 1
            if jobs >= settings.jobs_per_run or workflow.info().is_continue_as_new_suggested():
                await self._flush_forwards()
                workflow.continue_as_new(
                    CollectorInput(model=inp.model, settings=settings, pending=self._pending, recent=self._recent)
                )

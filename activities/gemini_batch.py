"""Batch mode's activities: hand items to the collector, submit/read/cancel a Gemini batch job,
and stage each finished item's image in S3 exactly where `generate_image` would have.

Pay once: the Batch API takes no request id, so `submit_batch_job` names the job after its
workflow id and records the created job's name in its heartbeat details; a retried attempt
takes the name from there or, when the earlier attempt died before its heartbeat left, looks
for a job of that name among the newest ones. A first attempt creates without looking.
`stage_batch_results` reads a finished job (free: Google bills the job, not its reads) and
skips items already staged at their key.

Off the event loop: a finished job's read carries every item's image as base64 inside one JSON
document (about 27 MB of text per 4K image), and a submit base64-encodes every reference
image; google-genai's async client parses and builds those on the calling loop. So every
Batch API call here goes through the SDK's synchronous client in a thread (`_off_loop`), and
the worker's loop keeps heartbeating every activity while a job of many 4K images is read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import aiohttp
import httpx
from google import genai
from google.genai import errors, types
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.cpu_pool import run_cpu
from activities.gemini import stage_image, staged_from_head
from activities.gemini_outcome import classify_api_error, classify_transport_error, delivered_image
from activities.heartbeat import with_heartbeats
from activities.image_check import InvalidImageError, verify_image
from clients.object_store import ObjectStore
from clients.settings import Settings
from kernel import failure_codes
from kernel.batch_payloads import (
    AddBatchItems,
    BatchItem,
    BatchItemOutcome,
    BatchJobRef,
    BatchJobState,
    BatchSettings,
    CollectorInput,
    EnqueueBatchInput,
    StageBatchInput,
    StageBatchResult,
    SubmitBatchInput,
    WithdrawBatchInput,
    WithdrawTask,
)
from kernel.contract import ADD_BATCH_ITEMS_SIGNAL, BATCH_COLLECTOR_WORKFLOW, WITHDRAW_SIGNAL, batch_collector_id
from kernel.object_keys import staging_key
from kernel.payloads import TaskError

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

# How many of the newest jobs a submit reads to find the one an earlier attempt created.
FIND_EXISTING_JOBS = 500


def batch_settings(settings: Settings) -> BatchSettings:
    """The BATCH_* settings as the workflows receive them."""
    return BatchSettings(
        gather_s=settings.batch_gather_s,
        max_items=settings.batch_max_items,
        poll_initial_s=settings.batch_poll_initial_s,
        poll_max_s=settings.batch_poll_max_s,
        jobs_per_run=settings.batch_collector_jobs_per_run,
        wait_max_s=settings.batch_wait_max_s,
        max_output_bytes=settings.batch_max_output_mb * 1024 * 1024,
    )


async def _gemini(call: Awaitable[T]) -> T:
    """Await a Batch API call, heartbeating; SDK and transport errors become our taxonomy's
    ApplicationError (429/5xx retryable, other 4xx InvalidRequest, non-retryable)."""
    try:
        return await with_heartbeats(call)
    except errors.APIError as exc:
        raise classify_api_error(exc) from None
    except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
        raise classify_transport_error(exc) from None


async def _off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await a synchronous Batch API call (download, JSON parse, model building) run in a
    thread of the loop's default executor, heartbeating; SDK and transport errors become our
    taxonomy's ApplicationError as in `_gemini`.

    Not `run_cpu`: that pool is sized for image work, and a call here mostly waits on the
    network (up to GEMINI_TIMEOUT_S). Cancelling the activity stops the wait at once; the
    thread finishes its call (bounded by the client's timeout) and its result is dropped.
    """
    return await _gemini(asyncio.to_thread(functools.partial(fn, *args, **kwargs)))


async def _signal_if_running(handle: WorkflowHandle[object, object], signal: str, arg: WithdrawTask) -> None:
    """Signal a workflow; one that is not running (never started, or finished) is left alone."""
    try:
        await handle.signal(signal, arg)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


class BatchActivities:
    """Activities of batch mode; constructed once per worker with its clients and settings."""

    def __init__(self, client: genai.Client, store: ObjectStore, settings: Settings) -> None:
        self._client = client
        self._store = store
        self._settings = batch_settings(settings)

    @activity.defn(name="enqueue_batch_items")
    async def enqueue_batch_items(self, inp: EnqueueBatchInput) -> BatchSettings:
        """Signal-with-start the collector of `inp.model` on this task queue with the items (a
        workflow cannot signal-with-start; an activity can). The collector ignores items it
        already holds, so a retry adds nothing twice. Returns the batch settings (the task
        reads its longest wait there). Raises RPCError when Temporal is down."""
        queue = activity.info().task_queue
        await activity.client().start_workflow(
            BATCH_COLLECTOR_WORKFLOW,
            CollectorInput(model=inp.model, settings=self._settings),
            id=batch_collector_id(queue, inp.model),
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=ADD_BATCH_ITEMS_SIGNAL,
            start_signal_args=[AddBatchItems(items=inp.items, settings=self._settings)],
        )
        return self._settings

    @activity.defn(name="withdraw_batch_items")
    async def withdraw_batch_items(self, inp: WithdrawBatchInput) -> None:
        """A canceled task's items leave the collector (if still there) and its job workflows
        (those it knows; the collector forwards to the jobs it handed them to as well)."""
        client = activity.client()
        queue = activity.info().task_queue
        withdraw = WithdrawTask(task_workflow_id=inp.task_workflow_id)
        await _signal_if_running(
            client.get_workflow_handle(batch_collector_id(queue, inp.model)), WITHDRAW_SIGNAL, withdraw
        )
        for job_workflow_id in inp.job_workflow_ids:
            await _signal_if_running(client.get_workflow_handle(job_workflow_id), WITHDRAW_SIGNAL, withdraw)

    def _find_job_sync(self, display_name: str) -> str | None:
        """The name of the newest job called `display_name` among the newest FIND_EXISTING_JOBS
        (blocking: pages are fetched and parsed as the iteration goes; run it in a thread)."""
        pager = self._client.batches.list(config=types.ListBatchJobsConfig(page_size=50))
        for seen, job in enumerate(pager, start=1):
            if job.display_name == display_name and job.name:
                return job.name
            if seen >= FIND_EXISTING_JOBS:
                break
        return None

    async def _reference_bytes(self, key: str, asset_id: str) -> bytes:
        if await self._store.head(key) is None:
            raise ApplicationError(
                f"reference asset {asset_id} was deleted", type=failure_codes.INVALID_REQUEST, non_retryable=True
            )
        return await self._store.get(key)

    async def _request(self, item: BatchItem) -> types.InlinedRequest:
        plan = item.plan
        parts = [types.Part.from_text(text=plan.prompt)]
        for reference in item.references:
            data = await self._reference_bytes(reference.key, reference.asset_id)
            parts.append(types.Part.from_bytes(data=data, mime_type=reference.mime))
        return types.InlinedRequest(
            contents=[types.Content(role="user", parts=parts)],
            config=types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                image_config=types.ImageConfig(aspect_ratio=plan.aspect_ratio, image_size=plan.image_size),
            ),
            metadata={"key": item.key},
        )

    @activity.defn(name="submit_batch_job")
    async def submit_batch_job(self, inp: SubmitBatchInput) -> BatchJobRef:
        """Create the Gemini batch job of `inp.items` (inline requests, in order) named
        `inp.display_name`, or return the one an earlier attempt created. Raises
        ApplicationError (InvalidRequest for a refused job, RateLimited/ModelUnavailable)."""
        info = activity.info()
        if info.heartbeat_details and isinstance(info.heartbeat_details[0], str):
            return BatchJobRef(job_name=info.heartbeat_details[0])
        existing = await _off_loop(self._find_job_sync, inp.display_name) if info.attempt > 1 else None
        if existing is not None:
            log.info("batch job %s already exists as %s; not creating another", inp.display_name, existing)
            return BatchJobRef(job_name=existing)
        requests = [await self._request(item) for item in inp.items]
        job = await _off_loop(
            self._client.batches.create,
            model=inp.model,
            src=requests,
            config=types.CreateBatchJobConfig(display_name=inp.display_name),
        )
        if not job.name:
            raise ApplicationError("the Batch API returned a job without a name", type=failure_codes.MODEL_UNAVAILABLE)
        activity.heartbeat(job.name)
        activity.logger.info("batch job created", extra={"job": job.name, "items": len(requests)})
        return BatchJobRef(job_name=job.name)

    @activity.defn(name="get_batch_job_state")
    async def get_batch_job_state(self, inp: BatchJobRef) -> BatchJobState:
        """The job's state (`JOB_STATE_PENDING` ... `JOB_STATE_SUCCEEDED`). A succeeded job's
        read carries its whole output: it is parsed in a thread and dropped here at once.
        Raises ApplicationError."""
        state = await _off_loop(self._job_state_sync, inp.job_name)
        return BatchJobState(state=state)

    def _job_state_sync(self, job_name: str) -> str:
        """Read the job and keep only its state name (blocking; run it in a thread)."""
        job = self._client.batches.get(name=job_name)
        return job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"

    def _answers_sync(self, job_name: str) -> list[types.InlinedResponse | None]:
        """Read the job and keep only its inline answers, in request order (blocking)."""
        job = self._client.batches.get(name=job_name)
        return list((job.dest.inlined_responses if job.dest is not None else None) or [])

    @activity.defn(name="cancel_batch_job")
    async def cancel_batch_job(self, inp: BatchJobRef) -> None:
        """Ask Google to cancel the job (a finished job stays as it is). Raises ApplicationError."""
        await _gemini(self._client.aio.batches.cancel(name=inp.job_name))
        activity.logger.info("batch job canceled", extra={"job": inp.job_name})

    async def _stage(self, item: BatchItem, response: types.InlinedResponse) -> BatchItemOutcome:
        """Check one item's answer and stage its image at the variation's staging key."""
        outcome = BatchItemOutcome(task_workflow_id=item.task_workflow_id, variation_index=item.variation_index)
        key = staging_key(item.project_id, item.task_id, item.variation_index)
        existing = staged_from_head(key, await self._store.head(key))
        if existing is not None:
            outcome.generated = existing
            return outcome
        if response.error is not None or response.response is None:
            status = response.error
            outcome.error = TaskError(
                code=failure_codes.api_code(failure_codes.BATCH_FAILED),
                message=f"the batch job failed this item: {status.code if status else '?'} "
                f"{status.message if status else 'no response'}",
            )
            return outcome
        try:
            image = delivered_image(response.response, last_attempt=True)
            verified = await run_cpu(verify_image, image.data, image.mime or None)
        except ApplicationError as err:
            outcome.error = TaskError(code=failure_codes.api_code(err.type), message=err.message)
            return outcome
        except InvalidImageError as exc:
            outcome.error = TaskError(code="invalid_image", message=f"model returned an invalid image: {exc}")
            return outcome
        outcome.generated = await stage_image(self._store, key, image, verified, item.plan.model)
        return outcome

    @activity.defn(name="stage_batch_results")
    async def stage_batch_results(self, inp: StageBatchInput) -> StageBatchResult:
        """Read the succeeded job and stage each item's image (its answer is the response at
        the item's position, checked against its metadata key when Google returns one); a
        blocked, imageless or failed item gets its failure instead. Idempotent. Raises
        ApplicationError (the job cannot be read, or its answers do not match its items)."""
        answers = await _off_loop(self._answers_sync, inp.job_name)
        if len(answers) != len(inp.items):
            raise ApplicationError(
                f"batch job {inp.job_name} answered {len(answers)} of {len(inp.items)} requests",
                type=failure_codes.BATCH_FAILED,
                non_retryable=True,
            )
        skip = set(inp.skip)
        outcomes = []
        for position, item in enumerate(inp.items):
            # Each answer (its image's bytes) is let go once staged: the output is not held whole.
            answer, answers[position] = answers[position], None
            if item.key in skip or answer is None:
                continue
            key = (answer.metadata or {}).get("key")
            if key is not None and key != item.key:
                raise ApplicationError(
                    f"batch job {inp.job_name}: answer for {key} where {item.key} was expected",
                    type=failure_codes.BATCH_FAILED,
                    non_retryable=True,
                )
            outcomes.append(await self._stage(item, answer))
            activity.heartbeat()
        return StageBatchResult(outcomes=outcomes)

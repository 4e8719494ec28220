"""Creating and canceling tasks.

Creation is ordered so that an accepted task cannot be lost: the workflow is started first
(its input is the whole task), then the row is inserted. If the API dies in between, the
workflow's first activity inserts the row itself. If the start fails (Temporal unreachable),
nothing was written and the client gets 503.

Idempotency: with an `Idempotency-Key`, the task id is derived from (user, key), so a retry
names the same workflow and Temporal refuses a second start. The retry then answers 200 with
the original task, or 422 when its body differs from the one that created the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.error_responses import Conflict, DependencyUnavailable, InvalidInput
from api.idempotency_keys import row_for_key
from api.limits import ImageReservation, SpendReservation, reserve_budget_or_429, reserve_daily_images_or_429
from api.model_pause import refuse_if_model_paused
from api.schemas import TaskCreate
from clients.settings import Settings
from db.assets import assets_in_project
from db.costs import worst_case_micro_usd
from db.error_kinds import classify_db_error
from db.models import Project, Task
from db.session import SessionFactory
from db.tasks import get_task, insert_task_for
from kernel.batch_payloads import INLINE_REQUEST_LIMIT_BYTES, inline_request_bytes
from kernel.contract import RENDER_TASK_WORKFLOW, REVIEW_UPDATE, task_id_for_idempotency_key, workflow_id_for
from kernel.payloads import (
    ReferenceImage,
    RenderParams,
    RenderTaskInput,
    ReviewDecision,
    ReviewOutcome,
    ReviewSettings,
)
from kernel.search_attributes import ASSET_TYPE, MODEL, OWNER_ID, PROJECT_ID, RENDER_STAGE, TASK_ID
from kernel.webhook_url_policy import UnsafeWebhookUrl, check_webhook_url

log = logging.getLogger(__name__)

START_RPC_TIMEOUT = timedelta(seconds=10)
REVIEW_RPC_TIMEOUT = timedelta(seconds=30)


# Temporal priority keys (1 = first, default 3): interactive work is dispatched before batch.
PRIORITY_KEYS = {"interactive": 2, "batch": 4}


def request_hash(project_id: uuid.UUID, body: TaskCreate) -> str:
    """sha256 of the canonical creation request (project and body with defaults applied).
    `priority` and `mode` count only when not the default, so keys used before they existed
    still match."""
    fields = body.model_dump(mode="json")
    for name, default in (("priority", "interactive"), ("mode", "standard")):
        if fields.get(name) == default:
            del fields[name]
    canonical = json.dumps({"project_id": str(project_id), **fields}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RetryOf:
    """The task being retried and, per new variation, its staging key to reuse."""

    task_id: uuid.UUID
    reuse_staging_keys: list[str | None]


@dataclass
class Created:
    """The task, and whether this request created it (202) or found it (200)."""

    task: Task
    created: bool


def _workflow_input(
    task_id: uuid.UUID,
    project: Project,
    body: TaskCreate,
    settings: Settings,
    key: str | None,
    references: list[ReferenceImage],
) -> RenderTaskInput:
    return RenderTaskInput(
        task_id=str(task_id),
        project_id=str(project.id),
        prompt=body.prompt,
        params=RenderParams.model_validate(body.parameters()),
        deadline_s=settings.task_deadline_s,
        name=body.name,
        description=body.description,
        idempotency_key=key,
        request_hash=request_hash(project.id, body),
        brand_kit=project.brand_kit,
        references=references,
        owner_id=str(project.owner_id),
        webhook_url=body.webhook_url,
        review=ReviewSettings(
            timeout_s=body.review_timeout_s or settings.review_timeout_s, on_expiry=settings.review_expiry_action
        )
        if body.review
        else None,
    )


async def _start(client: Client, settings: Settings, inp: RenderTaskInput, owner_id: uuid.UUID) -> bool:
    """Start the workflow; False when it already exists. Raises DependencyUnavailable."""
    try:
        await client.start_workflow(
            RENDER_TASK_WORKFLOW,
            inp,
            id=workflow_id_for(uuid.UUID(inp.task_id)),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(PROJECT_ID, inp.project_id),
                    SearchAttributePair(TASK_ID, inp.task_id),
                    SearchAttributePair(OWNER_ID, str(owner_id)),
                    SearchAttributePair(MODEL, inp.params.model),
                    SearchAttributePair(ASSET_TYPE, "image"),
                    SearchAttributePair(RENDER_STAGE, "queued"),
                ]
            ),
            # Activities inherit both: the model queue serves priorities in order and, within
            # one, the projects' backlogs in weighted round robin instead of first come.
            priority=Priority(
                priority_key=PRIORITY_KEYS[inp.params.priority], fairness_key=inp.project_id, fairness_weight=1.0
            ),
            rpc_timeout=START_RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        return False
    except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazy client that cannot connect
        log.warning("could not start workflow for task %s: %s", inp.task_id, exc)
        raise DependencyUnavailable("temporal is unavailable; the task was not created, retry shortly") from exc
    return True


async def _started_input(client: Client, workflow_id: str) -> RenderTaskInput:
    """The input the existing workflow was started with (the source of truth for its task)."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [value] = await client.data_converter.decode(payloads, [RenderTaskInput])
        return RenderTaskInput.model_validate(value)
    raise DependencyUnavailable(f"workflow {workflow_id} has no history yet; retry shortly")


async def _insert_row(session: AsyncSession, client: Client, inp: RenderTaskInput, started_here: bool) -> None:
    """Insert the task row. The edge validation should make a data error impossible here; if one
    still happens (a value Postgres refuses), the workflow this request started is terminated
    before the error reaches the client as a 4xx: a refused task leaves no workflow behind (its
    own `ensure_task_row` would fail on the same data anyway). Outages propagate untouched (503):
    then the workflow writes the row itself."""
    try:
        await insert_task_for(session, inp)
        await session.flush()
    except DBAPIError as exc:
        info = classify_db_error(exc)
        if not started_here or info.kind == "unavailable":
            raise
        # The caller's transaction (or a batch item's savepoint) is rolled back by the caller.
        handle = client.get_workflow_handle(workflow_id_for(uuid.UUID(inp.task_id)))
        reason = f"task row refused by the database: {info.message}"
        with contextlib.suppress(RPCError):  # already finished (its row insert failed first)
            await handle.terminate(reason=reason, rpc_timeout=START_RPC_TIMEOUT)
        log.warning("terminated workflow of refused task %s: %s", inp.task_id, reason)
        raise


async def _references(session: AsyncSession, project: Project, body: TaskCreate) -> list[ReferenceImage]:
    """The reference assets, which must belong to the same project; raises InvalidInput (422)."""
    if not body.reference_asset_ids:
        return []
    found = {a.id: a for a in await assets_in_project(session, project.id, body.reference_asset_ids)}
    missing = [str(a) for a in body.reference_asset_ids if a not in found]
    if missing:
        raise InvalidInput(f"reference assets not found in this project: {', '.join(missing)}")
    return [
        ReferenceImage(asset_id=str(a), key=found[a].file_key, mime=found[a].content_type, byte_size=found[a].byte_size)
        for a in body.reference_asset_ids
    ]


@dataclass
class Pending:
    """A task planned and counted against the quota, not started yet: `start_pending`, then
    `record_pending`. Its reservation is given back if it is not created in the end."""

    task_id: uuid.UUID
    inp: RenderTaskInput
    expected_hash: str
    reservation: Reservations


@dataclass
class Reservations:
    """What a pending task counted against its project's limits: images (daily quota) and
    worst-case cost (budgets)."""

    images: ImageReservation
    spend: SpendReservation

    async def release(self) -> None:
        """Give both back (idempotent)."""
        await self.images.release()
        await self.spend.release()


async def prepare_task(
    session: AsyncSession,
    sessions: SessionFactory,
    settings: Settings,
    owner_id: uuid.UUID,
    project: Project,
    body: TaskCreate,
    idempotency_key: str | None,
    retry_of: RetryOf | None = None,
) -> Created | Pending:
    """The first, database-only step of a creation: a known Idempotency-Key answers its task
    (`Created`, created=False); otherwise the input is checked and built and its images and
    worst-case cost are reserved (`Pending`). Raises InvalidInput (422: references, webhook URL,
    a reused key with another body) or TooManyRequests (429 `quota_exceeded`, `budget_exceeded`)."""
    task_id, existing = await row_for_key(
        idempotency_key,
        lambda n: task_id_for_idempotency_key(owner_id, idempotency_key or "", n),
        lambda row_id: get_task(session, row_id),
    )
    expected_hash = request_hash(project.id, body)
    if existing is not None:
        return _checked(existing, project, expected_hash, created=False)
    # A replay of a known key skipped all of this: no DNS lookup, no reference query.
    inp = await _new_task_input(session, settings, task_id, project, body, idempotency_key, retry_of)
    images = await reserve_daily_images_or_429(sessions, project, body.n, settings)
    try:
        spend = await reserve_budget_or_429(sessions, project, worst_case_micro_usd(body.parameters()))
    except BaseException:
        await images.release()
        raise
    return Pending(task_id, inp, expected_hash, Reservations(images, spend))


async def start_pending(client: Client, settings: Settings, owner_id: uuid.UUID, pending: Pending) -> bool:
    """Start the pending task's workflow; False when it already exists (a concurrent request
    with the same key started it and counted its images: this reservation is given back).
    Raises DependencyUnavailable (503), or TooManyRequests (429 `quota_exhausted`: the model's
    daily quota is used up, `api/model_pause.py`), after giving the reservation back."""
    try:
        await refuse_if_model_paused(client, settings, pending.inp.params.model, pending.inp.params.mode)
        started = await _start(client, settings, pending.inp, owner_id)
    except BaseException:
        await pending.reservation.release()
        raise
    if not started:
        await pending.reservation.release()
    return started


async def record_pending(
    session: AsyncSession, client: Client, project: Project, pending: Pending, started: bool
) -> Created:
    """Insert the row of a task whose workflow exists (`started`: this request started it), then
    read it back. On a duplicate start the running workflow's own input is the truth, not this
    request's body. Raises like `_insert_row` (the reservation is then given back),
    DependencyUnavailable, or InvalidInput for a reused key with another body."""
    workflow_id = workflow_id_for(pending.task_id)
    try:
        await _insert_row(
            session, client, pending.inp if started else await _started_input(client, workflow_id), started
        )
    except BaseException:
        if started:
            await pending.reservation.release()
        raise
    existing = await get_task(session, pending.task_id)
    if existing is None:
        raise DependencyUnavailable("task row could not be read back; retry shortly")
    return _checked(existing, project, pending.expected_hash, created=started)


def _checked(task: Task, project: Project, expected_hash: str, *, created: bool) -> Created:
    if task.request_hash != expected_hash or task.project_id != project.id:
        raise InvalidInput("Idempotency-Key was already used with a different request")
    return Created(task, created)


async def create_task(
    session: AsyncSession,
    sessions: SessionFactory,
    client: Client,
    settings: Settings,
    owner_id: uuid.UUID,
    project: Project,
    body: TaskCreate,
    idempotency_key: str | None,
    retry_of: RetryOf | None = None,
) -> Created:
    """Start the task's workflow, then insert its row. Raises DependencyUnavailable (503) or,
    for a reused Idempotency-Key with another body, InvalidInput (422)."""
    step = await prepare_task(session, sessions, settings, owner_id, project, body, idempotency_key, retry_of)
    if isinstance(step, Created):
        return step
    started = await start_pending(client, settings, owner_id, step)
    return await record_pending(session, client, project, step, started)


async def _new_task_input(
    session: AsyncSession,
    settings: Settings,
    task_id: uuid.UUID,
    project: Project,
    body: TaskCreate,
    idempotency_key: str | None,
    retry_of: RetryOf | None,
) -> RenderTaskInput:
    """Check the webhook URL (SSRF) and the references, then build the workflow input."""
    if body.webhook_url is not None:
        try:
            await check_webhook_url(body.webhook_url, development=settings.studio_env == "development")
        except UnsafeWebhookUrl as exc:
            raise InvalidInput(str(exc)) from exc
    references = await _references(session, project, body)
    if body.mode == "batch":
        size = inline_request_bytes(body.prompt, [r.byte_size for r in references])
        if size > INLINE_REQUEST_LIMIT_BYTES:
            raise InvalidInput(
                f"batch mode sends reference images inline, and Google takes at most "
                f"{INLINE_REQUEST_LIMIT_BYTES / 2**20:g} MB of them per job; these come to {size / 2**20:.1f} MB "
                "(base64): use standard mode or smaller reference images"
            )
    inp = _workflow_input(task_id, project, body, settings, idempotency_key, references)
    if retry_of is not None:
        inp.retry_of_task_id = str(retry_of.task_id)
        inp.reuse_staging_keys = list(retry_of.reuse_staging_keys)
    return inp


async def cancel_task(client: Client, workflow_id: str, what: str = "task") -> None:
    """Request cancellation of a running workflow (a task's, or an export's: `what` names it in
    messages). Raises Conflict (409) when it already finished, also when it closed between the
    check and the cancel or is past Temporal's retention (NOT_FOUND)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise Conflict(f"{what} already finished ({desc.status.name.lower() if desc.status else 'unknown'})")
        await handle.cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"{what} already finished") from err
        raise


async def review_task(client: Client, workflow_id: str, winner: uuid.UUID) -> ReviewOutcome:
    """Send the `review` Update. Raises Conflict (409) when the task is not awaiting a review
    or was already decided, InvalidInput (422) for an asset that is not one of its variations,
    DependencyUnavailable (503) when no worker answers within REVIEW_RPC_TIMEOUT.

    An Update needs a live worker; without one the SDK waits indefinitely. The stage search
    attribute (no worker needed) turns away tasks that are not awaiting a review, and the wait
    for the rest is bounded."""
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    stage = description.typed_search_attributes.get(RENDER_STAGE)
    if description.status != WorkflowExecutionStatus.RUNNING or stage != "awaiting_review":
        raise Conflict(f"the task is not awaiting a review (stage {stage or 'queued'})")
    try:
        async with asyncio.timeout(REVIEW_RPC_TIMEOUT.total_seconds()):
            return await handle.execute_update(
                REVIEW_UPDATE,
                ReviewDecision(winner_asset_id=str(winner)),
                result_type=ReviewOutcome,
                rpc_timeout=REVIEW_RPC_TIMEOUT,
            )
    except TimeoutError as err:
        raise DependencyUnavailable("the task's worker did not answer the review; retry shortly") from err
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if isinstance(cause, ApplicationError) and cause.type == "UnknownAsset":
            raise InvalidInput(message) from err
        raise Conflict(message) from err
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict("the task is finished: its review is closed") from err
        raise

"""Creating and canceling exports (issue 13), in the order tasks use (api/task_service.py).

The export's assets are resolved here (ids checked against the project, or the filter run) and
frozen into the workflow's input and the row, so the export holds what the user saw when they
asked. The row is written in the request's unit of work after the workflow started; if that
commit is lost, the workflow's `record_export` writes the row itself.

Idempotency: with an `Idempotency-Key` the export id is derived from (user, key), so a retry
names the same workflow; it answers 200 with the original export, or 422 when its body differs.
A key whose export's key housekeeping expired moves on to its next generation (a new export).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.error_responses import DependencyUnavailable, InvalidInput
from api.export_schemas import ExportCreate
from api.idempotency_keys import row_for_key
from clients.settings import Settings
from db.assets import AssetFilters, assets_in_project
from db.exports import get_export, insert_export_if_absent, matching_asset_ids
from db.models import Export, Project
from kernel.contract import EXPORT_WORKFLOW, export_workflow_id
from kernel.exports import MP4_MAX_PIXEL_FRAMES, ExportInput, export_id_for_idempotency_key, mp4_pixel_frames
from kernel.search_attributes import OWNER_ID, PROJECT_ID

log = logging.getLogger(__name__)

START_RPC_TIMEOUT = timedelta(seconds=10)


@dataclass
class CreatedExport:
    """The export, and whether this request created it (202) or found it (200)."""

    export: Export
    created: bool


def export_request_hash(project_id: uuid.UUID, body: ExportCreate) -> str:
    """sha256 of the canonical request (project and body with defaults applied)."""
    canonical = json.dumps({"project_id": str(project_id), **body.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _asset_ids(session: AsyncSession, settings: Settings, project: Project, body: ExportCreate) -> list[str]:
    """The export's assets in order; raises InvalidInput (422) for unknown ids, none at all,
    more than the format allows, or an MP4 over its encoding budget (MP4_MAX_PIXEL_FRAMES)."""
    limit = settings.export_max_assets if body.format == "zip" else settings.export_max_media_assets
    if body.asset_ids is not None:
        found = {a.id for a in await assets_in_project(session, project.id, body.asset_ids)}
        missing = [str(a) for a in body.asset_ids if a not in found]
        if missing:
            raise InvalidInput(f"assets not found in this project: {', '.join(missing)}")
        ids = list(body.asset_ids)
    else:
        f = body.filter
        filters = (
            AssetFilters(
                task_id=f.task_id,
                state=f.state,
                asset_type=f.asset_type,
                visibility=f.visibility,
                created_after=f.created_after,
                created_before=f.created_before,
            )
            if f is not None
            else AssetFilters()
        )
        ids = await matching_asset_ids(session, project.id, filters, limit + 1)
    if not ids:
        raise InvalidInput("no assets match: nothing to export")
    if len(ids) > limit:
        raise InvalidInput(f"a {body.format} export holds at most {limit} images; narrow the selection")
    if body.format == "mp4" and (work := mp4_pixel_frames(len(ids), body.options)) > MP4_MAX_PIXEL_FRAMES:
        raise InvalidInput(
            f"this video is too long to encode: {len(ids)} images x frames per image x width x height = "
            f"{work:,} pixel-frames, at most {MP4_MAX_PIXEL_FRAMES:,}; lower the size, fps, seconds per image"
            " or the number of images"
        )
    return [str(a) for a in ids]


async def create_export(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    owner_id: uuid.UUID,
    project: Project,
    body: ExportCreate,
    idempotency_key: str | None,
) -> CreatedExport:
    """Start the export's workflow, then insert its row (the caller's unit of work commits it).
    Raises InvalidInput (422: selection, a reused key with another body) or
    DependencyUnavailable (503: Temporal)."""
    expected_hash = export_request_hash(project.id, body)
    export_id, existing = await row_for_key(
        idempotency_key,
        lambda n: export_id_for_idempotency_key(owner_id, idempotency_key or "", n),
        lambda row_id: get_export(session, row_id),
    )
    if existing is not None:
        return _checked(existing, project, expected_hash, created=False)
    asset_ids = await _asset_ids(session, settings, project, body)
    inp = ExportInput(
        export_id=str(export_id),
        project_id=str(project.id),
        owner_id=str(owner_id),
        format=body.format,
        asset_ids=asset_ids,
        options=body.options,
        idempotency_key=idempotency_key,
        request_hash=expected_hash,
    )
    started = await _start(client, settings, inp)
    await insert_export_if_absent(session, inp)
    await session.flush()
    row = await get_export(session, export_id)
    if row is None:
        raise DependencyUnavailable("export row could not be read back; retry shortly")
    return _checked(row, project, expected_hash, created=started)


def _checked(export: Export, project: Project, expected_hash: str, *, created: bool) -> CreatedExport:
    if export.request_hash != expected_hash or export.project_id != project.id:
        raise InvalidInput("Idempotency-Key was already used with a different request")
    return CreatedExport(export, created)


async def _start(client: Client, settings: Settings, inp: ExportInput) -> bool:
    """Start the workflow; False when it already exists (a concurrent retry with the same key).
    Raises DependencyUnavailable."""
    try:
        await client.start_workflow(
            EXPORT_WORKFLOW,
            inp,
            id=export_workflow_id(uuid.UUID(inp.export_id)),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(PROJECT_ID, inp.project_id), SearchAttributePair(OWNER_ID, inp.owner_id)]
            ),
            rpc_timeout=START_RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        return False
    except (RPCError, RuntimeError) as exc:
        log.warning("could not start export %s: %s", inp.export_id, exc)
        raise DependencyUnavailable("temporal is unavailable; the export was not created, retry shortly") from exc
    return True

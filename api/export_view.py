"""The API's view of an export: its row plus the state derived from its workflow, with a
presigned download link once the file exists."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from api.export_schemas import ExportProgressPublic, ExportPublic
from api.export_status import ExportState, export_state
from api.task_view import temporal_ui_url
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.models import Export
from kernel.exports import EXPORT_CONTENT_TYPES, ExportOptions


async def export_public(export: Export, state: ExportState, settings: Settings, store: ObjectStore) -> ExportPublic:
    """The JSON view of `export` in `state`; `url` is presigned (no request) only while the file
    exists (succeeded, not expired)."""
    total = len(export.asset_ids)
    status = state.status
    url = None
    if status == "succeeded" and export.expired_at is not None:
        status = "expired"
    file = state.file
    if status == "succeeded" and file is not None:
        url = await store.presigned_get_url(file.key, settings.presign_ttl_s)
    done = total if status == "succeeded" else (state.done or 0)
    return ExportPublic(
        id=export.id,
        project_id=export.project_id,
        format=export.format,
        status=status,
        progress=ExportProgressPublic(done=done, total=state.total or total),
        options=ExportOptions.model_validate(export.options),
        asset_count=total,
        workflow_id=export.workflow_id,
        temporal_ui_url=temporal_ui_url(settings, export.workflow_id),
        created_at=export.created_at,
        completed_at=export.completed_at,
        expired_at=export.expired_at,
        content_type=file.content_type if file is not None else EXPORT_CONTENT_TYPES[export.format],
        size=file.size if file is not None else export.byte_size,
        sha256=file.sha256 if file is not None else export.sha256,
        url=url,
        url_expires_in_s=settings.presign_ttl_s if url else None,
        error=state.error,
    )


async def exports_public(
    exports: list[Export], client: Client, settings: Settings, store: ObjectStore
) -> list[ExportPublic]:
    """The views of a page of exports (their workflows described concurrently)."""
    states = await asyncio.gather(*(export_state(client, e) for e in exports))
    return [await export_public(e, s, settings, store) for e, s in zip(exports, states, strict=True)]

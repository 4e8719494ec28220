"""Export activities (issue 13): build a ZIP, a contact sheet or an MP4 of a project's assets
into S3 under `exports/`, record the finished file on the export's row, discard a canceled one.

Each build heartbeats (`done` of `total` images in its details, read by the API as progress);
image decoding, resizing, encoding and hashing run in the image thread pool
(`activities.cpu_pool`), never on the event loop. Bytes never enter workflow history: the
activities return `ExportFile` (key, size, SHA-256).

Long CPU steps (one image's frames and crossfade of a video, a 4K decode) heartbeat while they
run (`_CpuSteps`), so the build's heartbeat timeout measures a dead worker, not a long step.

Resuming: the ZIP continues from its last checkpoint (`ZipCheckpoint`: multipart upload id,
parts, members) on the next attempt; a contact sheet (thumbnails, seconds) and a video (an
H.264 stream cannot be continued from a saved state) start again.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cpu_pool import run_cpu
from activities.export_manifest import entry_name, manifest_csv, manifest_json, manifest_record
from activities.export_sheet import ContactSheet, layout
from activities.export_video import Slideshow, letterboxed
from activities.export_zip import MIN_PART_BYTES, PART_BYTES, READ_CHUNK_BYTES, ZipWriter
from activities.heartbeat import with_heartbeats
from activities.image_check import InvalidImageError
from clients.object_store import ObjectStore
from db.exports import (
    ExportAssetRow,
    export_asset_rows,
    insert_export_if_absent,
    record_export_file,
    record_export_outcome,
)
from db.session import SessionFactory
from kernel.exports import (
    EXPORT_CONTENT_TYPES,
    BuildExportInput,
    DiscardExportInput,
    ExportFile,
    ExportProgress,
    RecordExportInput,
    RecordExportOutcomeInput,
    ZipCheckpoint,
    ZipPart,
)

EXPORT_SOURCE_MISSING = "ExportSourceMissing"

T = TypeVar("T")


def _missing(key: str) -> ApplicationError:
    return ApplicationError(
        f"an exported image is missing from storage: {key}", type=EXPORT_SOURCE_MISSING, non_retryable=True
    )


async def _abort_unless_shutdown(store: ObjectStore, key: str) -> None:
    """On a cancel, free the unfinished upload; on a worker shutdown keep it for the next
    attempt to resume."""
    if not activity.is_worker_shutdown():
        await asyncio.shield(store.abort_multipart_uploads(key))


def _heartbeat_every_s() -> float:
    """Seconds between heartbeats during a CPU step: a quarter of the activity's heartbeat
    timeout (0.1 to 2 s), so a throttled heartbeat still reaches the server in time."""
    timeout = activity.info().heartbeat_timeout
    return min(2.0, max(0.1, timeout.total_seconds() / 4)) if timeout else 2.0


class _CpuSteps:
    """CPU steps of one build, run one at a time in the image pool while heartbeating
    `progress` (the API's progress survives: each heartbeat replaces the last one's details).

    A cancelled activity stops waiting at once, but the step's thread cannot be interrupted: the
    step in flight is kept so that the build can wait for it (`settle`) before touching what
    the step uses (PyAV is not thread-safe)."""

    def __init__(self, progress: ExportProgress) -> None:
        self.progress = progress
        self._every_s = _heartbeat_every_s()
        self._in_flight: asyncio.Future[Any] | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the pool, heartbeating until it returns; its exceptions propagate."""
        step: asyncio.Future[T] = asyncio.ensure_future(run_cpu(fn, *args))
        self._in_flight = step
        return await with_heartbeats(asyncio.shield(step), self._every_s, self.progress)

    async def settle(self) -> None:
        """Wait until the last step's thread is done, whatever its outcome."""
        step = self._in_flight
        if step is not None:
            await asyncio.wait({step})
            if not step.cancelled():
                step.exception()  # retrieved: its outcome no longer matters


class ExportActivities:
    """The export activities of one worker, bound to its S3 store and Postgres sessions."""

    def __init__(self, store: ObjectStore, sessions: SessionFactory) -> None:
        self._store = store
        self._sessions = sessions

    async def _rows(self, inp: BuildExportInput) -> list[ExportAssetRow]:
        async with self._sessions() as session:
            rows = await export_asset_rows(session, uuid.UUID(inp.project_id), [uuid.UUID(a) for a in inp.asset_ids])
        if not rows:
            raise ApplicationError("none of the export's assets exist any more", type="ExportEmpty", non_retryable=True)
        if len(rows) != len(inp.asset_ids):
            present = {str(row.asset.id) for row in rows}
            gone = [a for a in inp.asset_ids if a not in present]
            raise ApplicationError(
                f"{len(gone)} of the export's assets were deleted since it was requested: {', '.join(gone[:5])}"
                + (" ..." if len(gone) > 5 else ""),
                type=EXPORT_SOURCE_MISSING,
                non_retryable=True,
            )
        return rows

    async def _read(self, key: str) -> bytes:
        data = await self._read_if_present(key)
        if data is None:
            raise _missing(key)
        return data

    async def _read_if_present(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            return await self._store.get(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    async def _cell_source(self, row: ExportAssetRow) -> bytes:
        """A contact-sheet cell's image: the asset's thumbnail, or its original when it has no
        thumbnail or the thumbnail object is gone (a thumbnail is derived data; the cell decodes
        and downscales the original in the pool). Raises ApplicationError ExportSourceMissing
        when the original is gone too."""
        asset = row.asset
        if asset.thumbnail_key:
            data = await self._read_if_present(asset.thumbnail_key)
            if data is not None:
                return data
            activity.logger.warning("thumbnail %s is missing; the contact sheet uses the original", asset.thumbnail_key)
        return await self._read(asset.file_key)

    @activity.defn(name="build_zip_export")
    async def build_zip_export(self, inp: BuildExportInput) -> ExportFile:
        """Stream the originals and the manifests into a ZIP at `inp.key` (multipart upload),
        continuing from the last checkpoint of an earlier attempt. Returns its size and
        SHA-256. Raises ApplicationError ExportSourceMissing / ExportEmpty (non-retryable)."""
        rows = await self._rows(inp)
        total = len(rows)
        details = activity.info().heartbeat_details
        resumed = ZipCheckpoint.model_validate(details[0]) if details else None
        if resumed is None:
            # An attempt that died before its first checkpoint may have started an upload: free it.
            await self._store.abort_multipart_uploads(inp.key)
        checkpoint = resumed or ZipCheckpoint(
            upload_id=await self._store.start_multipart(inp.key, EXPORT_CONTENT_TYPES["zip"]), total=total
        )
        if resumed is not None:
            activity.logger.info(
                "zip export %s resumes at image %d, byte %d", inp.export_id, resumed.resume_at, resumed.offset
            )
        try:
            try:
                size, digest = await self._write_zip(inp, rows, checkpoint)
            except ClientError as exc:
                if resumed is None or exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
                activity.logger.warning(
                    "zip export %s: upload %s is gone; starting again", inp.export_id, resumed.upload_id
                )
                resumed = None
                await self._store.abort_multipart_uploads(inp.key)
                checkpoint = ZipCheckpoint(
                    upload_id=await self._store.start_multipart(inp.key, EXPORT_CONTENT_TYPES["zip"]), total=total
                )
                size, digest = await self._write_zip(inp, rows, checkpoint)
        except asyncio.CancelledError:
            await _abort_unless_shutdown(self._store, inp.key)
            raise
        resumed_at = resumed.resume_at if resumed is not None else 0
        return ExportFile(
            key=inp.key,
            content_type=EXPORT_CONTENT_TYPES["zip"],
            size=size,
            sha256=digest,
            images=total,
            resumed_at_image=resumed_at,
        )

    async def _write_zip(
        self, inp: BuildExportInput, rows: list[ExportAssetRow], start: ZipCheckpoint
    ) -> tuple[int, str]:
        writer = await run_cpu(ZipWriter, start.offset, list(start.entries))
        parts, entries = list(start.parts), list(start.entries)
        # The archive's SHA-256 as it streams; a resumed attempt never saw the first bytes and
        # reads the finished object back instead.
        hasher = hashlib.sha256() if start.offset == 0 else None
        last = start

        async def flush() -> None:
            data = writer.take()
            if hasher is not None:
                await run_cpu(hasher.update, data)
            number = len(parts) + 1
            parts.append(
                ZipPart(number=number, etag=await self._store.upload_part(inp.key, start.upload_id, number, data))
            )

        for index in range(start.resume_at, len(rows)):
            row = rows[index]
            await run_cpu(writer.open_member, entry_name(index + 1, row), row.asset.created_at)
            try:
                async for chunk in self._store.iter_chunks(row.asset.file_key, READ_CHUNK_BYTES):
                    await run_cpu(writer.write, chunk)
                    if writer.buffered >= PART_BYTES:
                        await flush()  # inside a member: not a checkpoint
                    activity.heartbeat(last.model_copy(update={"done": index}))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise _missing(row.asset.file_key) from exc
                raise
            entries.append(await run_cpu(writer.close_member))
            if writer.buffered >= MIN_PART_BYTES:
                await flush()
                last = ZipCheckpoint(
                    upload_id=start.upload_id,
                    parts=list(parts),
                    entries=list(entries),
                    offset=writer.offset,
                    resume_at=index + 1,
                    total=len(rows),
                )
            activity.heartbeat(last.model_copy(update={"done": index + 1}))
        records = [manifest_record(i + 1, row) for i, row in enumerate(rows)]
        newest = max(row.asset.created_at for row in rows)
        await run_cpu(writer.add, "manifest.json", newest, manifest_json(inp.export_id, records))
        await run_cpu(writer.add, "manifest.csv", newest, manifest_csv(records))
        await run_cpu(writer.finish)
        await flush()
        await self._store.complete_multipart(inp.key, start.upload_id, [(p.number, p.etag) for p in parts])
        done = ExportProgress(done=len(rows), total=len(rows))
        digest = hasher.hexdigest() if hasher is not None else await self._hash_object(inp.key, done)
        return writer.offset, digest

    async def _hash_object(self, key: str, progress: ExportProgress) -> str:
        """SHA-256 of a stored object, streamed (heartbeating) and hashed in the thread pool."""
        hasher = hashlib.sha256()
        async for chunk in self._store.iter_chunks(key, PART_BYTES):
            await run_cpu(hasher.update, chunk)
            activity.heartbeat(progress)
        return hasher.hexdigest()

    @activity.defn(name="build_contact_sheet")
    async def build_contact_sheet(self, inp: BuildExportInput) -> ExportFile:
        """One PNG of the assets' thumbnails in a grid with captions (task name, variation,
        state) at `inp.key`: each cell from the asset's WebP thumbnail when it has one (and its
        object exists), else from the original, decoded and scaled in the thread pool. Raises ApplicationError
        ExportSourceMissing / ExportEmpty (non-retryable)."""
        rows = await self._rows(inp)
        options = inp.options
        sheet = await run_cpu(ContactSheet, layout(len(rows), options.thumb_px, options.columns), options.thumb_px)
        for index, row in enumerate(rows):
            asset = row.asset
            data = await self._cell_source(row)
            caption = [
                row.task.name if row.task is not None else "upload",
                f"v{asset.variation_index} · {asset.state}" if asset.variation_index is not None else asset.state,
            ]
            try:
                await run_cpu(sheet.place, index, data, caption)
            except InvalidImageError as exc:  # no placeholder cell: the sheet would hide the loss
                raise ApplicationError(f"asset {asset.id}: {exc}", type="InvalidImage", non_retryable=True) from exc
            del data
            activity.heartbeat(ExportProgress(done=index + 1, total=len(rows)))
        png = await run_cpu(sheet.png)
        digest = await run_cpu(lambda: hashlib.sha256(png).hexdigest())
        content_type = EXPORT_CONTENT_TYPES["contact_sheet"]
        await self._store.put(inp.key, png, content_type, {"sha256": digest}, sha256=digest)
        return ExportFile(key=inp.key, content_type=content_type, size=len(png), sha256=digest, images=len(rows))

    @activity.defn(name="build_video_export")
    async def build_video_export(self, inp: BuildExportInput) -> ExportFile:
        """An H.264 MP4 slideshow of the assets at `inp.key` (see activities/export_video.py for
        timing and letterboxing), encoded into a temporary file, then uploaded in parts. Each
        decode and encode step heartbeats while it runs (one image's frames can take minutes).
        Raises ApplicationError ExportSourceMissing / ExportEmpty (non-retryable)."""
        rows = await self._rows(inp)
        o = inp.options
        with tempfile.TemporaryDirectory(prefix="export-") as tmp:
            path = Path(tmp) / "export.mp4"
            show = await run_cpu(Slideshow, path, o.width, o.height, o.fps, o.seconds_per_image, o.crossfade_s)
            steps = _CpuSteps(ExportProgress(done=0, total=len(rows)))
            try:
                for index, row in enumerate(rows):
                    data = await self._read(row.asset.file_key)
                    try:
                        frame = await steps.run(letterboxed, data, o.width, o.height)
                    except InvalidImageError as exc:
                        raise ApplicationError(
                            f"asset {row.asset.id}: {exc}", type="InvalidImage", non_retryable=True
                        ) from exc
                    del data
                    await steps.run(show.add, frame)
                    steps.progress = ExportProgress(done=index + 1, total=len(rows))
                    activity.heartbeat(steps.progress)
                await steps.run(show.close)
            except BaseException:
                # Canceled (or failed): stop the frame loop, wait for its thread, then close.
                show.stop()
                await asyncio.shield(self._abandon(show, steps))
                raise
            done = ExportProgress(done=len(rows), total=len(rows))
            size, digest = await self._upload_file(inp.key, path, EXPORT_CONTENT_TYPES["mp4"], done)
        return ExportFile(
            key=inp.key, content_type=EXPORT_CONTENT_TYPES["mp4"], size=size, sha256=digest, images=len(rows)
        )

    @staticmethod
    async def _abandon(show: Slideshow, steps: _CpuSteps) -> None:
        await steps.settle()
        await run_cpu(show.abort)

    async def _upload_file(self, key: str, path: Path, content_type: str, progress: ExportProgress) -> tuple[int, str]:
        """Upload a local file in PART_BYTES parts (one multipart upload), hashing as it goes;
        returns (size in bytes, SHA-256 hex)."""
        upload_id = await self._store.start_multipart(key, content_type)
        hasher, size = hashlib.sha256(), 0
        parts: list[tuple[int, str]] = []
        try:
            with path.open("rb") as source:
                while data := await run_cpu(source.read, PART_BYTES):
                    await run_cpu(hasher.update, data)
                    size += len(data)
                    parts.append((len(parts) + 1, await self._store.upload_part(key, upload_id, len(parts) + 1, data)))
                    activity.heartbeat(progress)
            await self._store.complete_multipart(key, upload_id, parts)
        except BaseException:
            await asyncio.shield(self._store.abort_multipart_uploads(key))
            raise
        return size, hasher.hexdigest()

    @activity.defn(name="record_export")
    async def record_export(self, inp: RecordExportInput) -> None:
        """Record the finished file (key, size, SHA-256, completion time) on the export's row;
        idempotent."""
        async with self._sessions() as session, session.begin():
            if inp.export is not None:
                await insert_export_if_absent(session, inp.export)
            await record_export_file(
                session, uuid.UUID(inp.export_id), inp.file.key, inp.file.size, inp.file.sha256, datetime.now(UTC)
            )

    @activity.defn(name="record_export_outcome")
    async def record_export_outcome(self, inp: RecordExportOutcomeInput) -> None:
        """Record how an export ended without a file (failed with its error, or canceled) and
        when, on its row; idempotent (the first end time stands; a row with a file is left)."""
        async with self._sessions() as session, session.begin():
            if inp.export is not None:
                await insert_export_if_absent(session, inp.export)
            await record_export_outcome(
                session, uuid.UUID(inp.export_id), inp.status, inp.error_code, inp.error_message, datetime.now(UTC)
            )

    @activity.defn(name="discard_export")
    async def discard_export(self, inp: DiscardExportInput) -> int:
        """Abort any unfinished multipart upload at `inp.key` and delete the object: a canceled
        or failed export leaves nothing in S3. Returns how many uploads were aborted."""
        aborted = await self._store.abort_multipart_uploads(inp.key)
        await self._store.delete(inp.key)
        return aborted

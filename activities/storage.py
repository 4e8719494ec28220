"""`publish_image`: verify a staged image and move it to its final key. Never calls the model."""

from __future__ import annotations

import hashlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.image_check import ImageInfo, InvalidImageError, aspect_matches, inspect_image
from activities.image_resize import cover_crop
from activities.metrics import count
from clients.object_store import ObjectStore
from kernel import failure_codes
from kernel.object_keys import task_prefixes
from kernel.payloads import ImageRef, PublishImageInput, TaskObjectsInput


def _verified(data: bytes, mime: str, inp: PublishImageInput) -> ImageInfo:
    """Decode fully and check mime and aspect ratio; raises a non-retryable InvalidImage."""
    try:
        info = inspect_image(data, mime)
    except InvalidImageError as exc:
        raise ApplicationError(str(exc), type=failure_codes.INVALID_IMAGE, non_retryable=True) from exc
    if not aspect_matches(info.width, info.height, inp.expected_width, inp.expected_height):
        raise ApplicationError(
            f"image is {info.width}x{info.height} px, "
            f"expected the aspect ratio of {inp.expected_width}x{inp.expected_height}",
            type=failure_codes.INVALID_IMAGE,
            non_retryable=True,
        )
    return info


def _ref_from_metadata(key: str, size: int, mime: str, meta: dict[str, str], staged: ImageRef) -> ImageRef:
    width, height = int(meta.get("width", staged.width)), int(meta.get("height", staged.height))
    resized = (width, height) != (staged.width, staged.height)
    return ImageRef(
        key=key,
        sha256=meta["sha256"],
        size=size,
        mime=mime,
        width=width,
        height=height,
        source_width=staged.width if resized else None,
        source_height=staged.height if resized else None,
    )


class StorageActivities:
    """Activities that move bytes within S3; constructed once per worker with its store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="publish_image")
    async def publish_image(self, inp: PublishImageInput) -> ImageRef:
        """Verify the staged bytes (checksum, decode, mime, aspect ratio), resize them to the
        asset type's exact size when one is set (cover + centre crop, PNG), write the final
        object with its checksums and size in metadata, delete staging; returns its reference.

        Idempotent: when the final object was already made from these staged bytes, only
        staging is cleaned up. Raises ApplicationError InvalidImage (non-retryable) when
        verification fails. Never calls the model.
        """
        staged = inp.staged
        existing = await self._store.head(inp.final_key)
        if existing is not None:
            meta = existing.metadata
            if meta.get("source-sha256", meta.get("sha256")) == staged.sha256:
                await self._store.delete(staged.key)
                return _ref_from_metadata(inp.final_key, existing.size, existing.content_type, meta, staged)
        data = await self._store.get(staged.key)
        if hashlib.sha256(data).hexdigest() != staged.sha256:
            # Storage returned other bytes than were staged: retry the read.
            raise ApplicationError(
                f"staged object {staged.key} checksum mismatch", type=failure_codes.STORAGE_UNAVAILABLE
            )
        info = _verified(data, staged.mime, inp)
        ref = ImageRef(**{**staged.model_dump(), "key": inp.final_key})
        target = (inp.output_width, inp.output_height)
        if inp.output_width and inp.output_height and (info.width, info.height) != target:
            data = cover_crop(data, inp.output_width, inp.output_height)
            ref = ImageRef(
                key=inp.final_key,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                mime="image/png",
                width=inp.output_width,
                height=inp.output_height,
                source_width=info.width,
                source_height=info.height,
            )
        metadata = {
            "sha256": ref.sha256,
            "source-sha256": staged.sha256,
            "width": str(ref.width),
            "height": str(ref.height),
        }
        await self._store.put(inp.final_key, data, ref.mime, metadata)
        count("render_bytes_stored", len(data))
        await self._store.delete(staged.key)
        return ref

    @activity.defn(name="discard_task_objects")
    async def discard_task_objects(self, inp: TaskObjectsInput) -> int:
        """Delete every staged and published object of a canceled task, so nothing is left in
        S3 without a row; returns how many objects were deleted."""
        deleted = 0
        for prefix in task_prefixes(inp.project_id, inp.task_id):
            for key in await self._store.list_keys(prefix):
                await self._store.delete(key)
                deleted += 1
        return deleted

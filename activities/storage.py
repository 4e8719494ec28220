"""`publish_image`: verify a staged image and move it to its final key. Never calls the model."""

from __future__ import annotations

import hashlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.image_check import InvalidImageError, aspect_matches, inspect_image
from activities.metrics import count
from studio import error_codes
from studio.object_keys import task_prefixes
from studio.object_store import ObjectStore
from studio.payloads import ImageRef, PublishImageInput, TaskObjectsInput


class StorageActivities:
    """Activities that move bytes within S3; constructed once per worker with its store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="publish_image")
    async def publish_image(self, inp: PublishImageInput) -> ImageRef:
        """Verify the staged bytes (checksum, decode, mime, aspect ratio), write the final object
        with its sha256 in metadata, delete the staging object; returns the final reference.

        Idempotent: when the final object already holds these bytes, only staging is cleaned up.
        Raises ApplicationError InvalidImage (non-retryable) when verification fails.
        """
        staged = inp.staged
        published = ImageRef(**{**staged.model_dump(), "key": inp.final_key})
        existing = await self._store.head(inp.final_key)
        if existing is not None and existing.metadata.get("sha256") == staged.sha256:
            await self._store.delete(staged.key)
            return published
        data = await self._store.get(staged.key)
        digest = hashlib.sha256(data).hexdigest()
        if digest != staged.sha256:
            # Storage returned other bytes than were staged: retry the read.
            raise ApplicationError(
                f"staged object {staged.key} checksum mismatch", type=error_codes.STORAGE_UNAVAILABLE
            )
        try:
            info = inspect_image(data, staged.mime)
        except InvalidImageError as exc:
            raise ApplicationError(str(exc), type=error_codes.INVALID_IMAGE, non_retryable=True) from exc
        if not aspect_matches(info.width, info.height, inp.expected_width, inp.expected_height):
            raise ApplicationError(
                f"image is {info.width}x{info.height} px, "
                f"expected the aspect ratio of {inp.expected_width}x{inp.expected_height}",
                type=error_codes.INVALID_IMAGE,
                non_retryable=True,
            )
        await self._store.put(inp.final_key, data, info.mime, {"sha256": digest})
        count("render_bytes_stored", len(data))
        await self._store.delete(staged.key)
        return published

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

"""`publish_image`: move a verified staged image to its final key. Never calls the model.

What is verified, and where (decode once):

- `generate_image` decoded the model's bytes fully (type, size), hashed them (SHA-256) and
  staged them with that digest as the PUT's checksum (S3 refuses bytes that do not match it)
  and in the object's metadata, with width and height. The workflow carries the same digest
  and size in `PublishImageInput.staged`.
- Unchanged image (no resize): the aspect ratio is checked on the staged size, then a
  server-side CopyObject with `ChecksumAlgorithm=SHA256`: S3 computes the SHA-256 of the bytes
  it wrote at the final key, and it must equal the staged digest the workflow carries, so the
  published bytes are bit for bit the ones `generate_image` decoded and hashed, without the
  worker downloading, decoding or uploading them (a stronger check than comparing the staged
  object's metadata, which says what was meant to be stored, not what is). On a mismatch the
  final object is deleted (the idempotency check below would otherwise trust its metadata) and
  the activity fails retryably (StorageUnavailable), as a mismatching download always did. A
  store that reports no checksum for the copy gets the final object downloaded and hashed.
- Resized image (the asset type's exact size): download, hash and compare, cover-crop, upload;
  hashing and cropping run in the image thread pool (`activities.cpu_pool`).

Thumbnails (a WebP of at most 512 px, `kernel.thumbnails`) come from a decode that happens anyway:
`generate_image` stages one made from its verifying decode, copied here beside an unchanged
image; a resize makes one from its crop. Only an image that was never decoded on its way here
(staged before thumbnails existed, reused from an earlier task) is decoded for it.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cpu_pool import run_cpu
from activities.image_check import InvalidImageError, aspect_matches, sha256_hex, thumbnail_of
from activities.image_resize import resize_for_asset
from activities.memory_budget import RESIZE_CONCURRENCY
from activities.metrics import count
from clients.object_store import ObjectStore
from kernel import failure_codes
from kernel.object_keys import task_prefixes, thumbnail_key
from kernel.payloads import ImageRef, PublishImageInput, TaskObjectsInput
from kernel.thumbnails import THUMBNAIL_MIME


def _check_aspect(width: int, height: int, inp: PublishImageInput) -> None:
    """Raise a non-retryable InvalidImage when `width` x `height` is not the expected ratio."""
    if not aspect_matches(width, height, inp.expected_width, inp.expected_height):
        raise ApplicationError(
            f"image is {width}x{height} px, expected the aspect ratio of {inp.expected_width}x{inp.expected_height}",
            type=failure_codes.INVALID_IMAGE,
            non_retryable=True,
        )


def _checksum_mismatch(key: str) -> ApplicationError:
    # Retryable: storage answered with other bytes than were staged (a bad read or copy).
    return ApplicationError(f"staged object {key} checksum mismatch", type=failure_codes.STORAGE_UNAVAILABLE)


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


def _final_metadata(ref: ImageRef, staged: ImageRef) -> dict[str, str]:
    return {"sha256": ref.sha256, "source-sha256": staged.sha256, "width": str(ref.width), "height": str(ref.height)}


class StorageActivities:
    """Activities that move bytes within S3; constructed once per worker with its store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        # Resizes hold the staged bytes, a bitmap and the PNG: at most one per image thread at
        # once, so a burst of them waits here before downloading instead of after, in memory.
        self._resizes = asyncio.Semaphore(RESIZE_CONCURRENCY)

    @activity.defn(name="publish_image")
    async def publish_image(self, inp: PublishImageInput) -> ImageRef:
        """Verify the staged image (checksum, aspect ratio), resize it to the asset type's
        exact size when one is set (cover + centre crop, PNG), write the final object with its
        checksums and size in metadata, delete staging; returns its reference.

        An unchanged image is copied inside S3 (no download, no decode: see the module
        docstring for what is verified). Idempotent: when the final object was already made
        from these staged bytes, only staging is cleaned up. Raises ApplicationError
        InvalidImage (non-retryable) when verification fails, StorageUnavailable (retryable)
        when the staged bytes do not match their checksum. Never calls the model.
        """
        staged = inp.staged
        existing = await self._store.head(inp.final_key)
        if existing is not None:
            meta = existing.metadata
            if meta.get("source-sha256", meta.get("sha256")) == staged.sha256:
                ref = _ref_from_metadata(inp.final_key, existing.size, existing.content_type, meta, staged)
                ref.thumbnail_key = await self._ensure_thumbnail(inp, ref)
                await self._delete_staged(staged.key)
                return ref
        _check_aspect(staged.width, staged.height, inp)
        target = (inp.output_width, inp.output_height)
        if inp.output_width and inp.output_height and (staged.width, staged.height) != target:
            async with self._resizes:
                ref, thumbnail = await self._publish_resized(inp, inp.output_width, inp.output_height)
            ref.thumbnail_key = await self._ensure_thumbnail(inp, ref, thumbnail)
        else:
            ref = await self._publish_copied(inp)
            ref.thumbnail_key = await self._ensure_thumbnail(inp, ref)
        count("render_bytes_stored", ref.size)
        await self._delete_staged(staged.key)
        return ref

    async def _delete_staged(self, key: str) -> None:
        """Delete a staged image and its staged thumbnail (the thumbnail first: a staged image
        without its thumbnail is still publishable, a lone staged thumbnail would be an orphan)."""
        await self._store.delete(thumbnail_key(key))
        await self._store.delete(key)

    async def _ensure_thumbnail(self, inp: PublishImageInput, ref: ImageRef, made: bytes | None = None) -> str | None:
        """Write the WebP thumbnail of the published image `ref` beside it, once; returns its key
        (None only when the image cannot be thumbnailed, which never fails the publish).

        From the cheapest source that is right: `made` (a resize made it from its own decode);
        a thumbnail already there for these bytes (a retried publish); the one `generate_image`
        staged from its decode (unchanged image: a server-side copy); else the published image
        is downloaded and decoded once here (staged before thumbnails existed, or reused from an
        earlier task). Storage errors propagate (retryable, like the image's own)."""
        key = thumbnail_key(ref.key)
        meta = {"source-sha256": ref.sha256}
        if made is not None:
            await self._store.put(key, made, THUMBNAIL_MIME, meta)
            return key
        found = await self._store.head(key)
        if found is not None and found.metadata.get("source-sha256") == ref.sha256:
            return key
        staged_thumb = thumbnail_key(inp.staged.key)
        if ref.sha256 == inp.staged.sha256:  # published unchanged: the staged thumbnail fits
            found = await self._store.head(staged_thumb)
            if found is not None and found.metadata.get("source-sha256") == ref.sha256:
                await self._store.copy(staged_thumb, key, content_type=THUMBNAIL_MIME, metadata=meta)
                return key
        async with self._resizes:  # a full decode: bounded like a resize
            data = await self._store.get(ref.key)
            try:
                thumbnail = await run_cpu(thumbnail_of, data)
            except InvalidImageError as exc:
                activity.logger.warning("no thumbnail for %s: %s", ref.key, exc)
                return None
            del data
        await self._store.put(key, thumbnail, THUMBNAIL_MIME, meta)
        return key

    async def _publish_copied(self, inp: PublishImageInput) -> ImageRef:
        """The staged bytes, unchanged, at the final key by a server-side copy."""
        staged = inp.staged
        ref = staged.model_copy(update={"key": inp.final_key, "thumbnail_key": None})
        copied = await self._store.copy(
            staged.key, inp.final_key, content_type=staged.mime, metadata=_final_metadata(ref, staged)
        )
        if copied is None:  # the store computes no checksums: hash the copy here
            copied = await run_cpu(sha256_hex, await self._store.get(inp.final_key))
        if copied != staged.sha256:
            await self._store.delete(inp.final_key)
            raise _checksum_mismatch(staged.key)
        return ref

    async def _publish_resized(self, inp: PublishImageInput, width: int, height: int) -> tuple[ImageRef, bytes | None]:
        """The staged image cover-cropped to `width` x `height` (PNG) at the final key, and the
        crop's WebP thumbnail (made from the same decode) for the caller to write."""
        staged = inp.staged
        data = await self._store.get(staged.key)
        if await run_cpu(sha256_hex, data) != staged.sha256:
            raise _checksum_mismatch(staged.key)
        try:
            resized = await run_cpu(resize_for_asset, data, width, height)
        except InvalidImageError as exc:
            raise ApplicationError(str(exc), type=failure_codes.INVALID_IMAGE, non_retryable=True) from exc
        del data  # the source's bytes are not needed for the upload
        ref = ImageRef(
            key=inp.final_key,
            sha256=resized.sha256,
            size=len(resized.data),
            mime="image/png",
            width=width,
            height=height,
            source_width=resized.source_width,
            source_height=resized.source_height,
        )
        await self._store.put(inp.final_key, resized.data, ref.mime, _final_metadata(ref, staged), sha256=ref.sha256)
        return ref, resized.thumbnail

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

"""`generate_image`: one Gemini call for one variation, staged in S3 before it returns.

Pay once: the staging key is deterministic per task and variation; when an earlier attempt
already stored the image there, the model is not called again. S3 hiccups after a paid answer
are retried inside the activity (heartbeating) rather than by re-running the model call.

Decode once: the answer's bytes are fully decoded and hashed here, in the image thread pool
(`activities.cpu_pool`, never on the event loop); their size, type and SHA-256 are staged with
them (object metadata, and the digest as the PUT's checksum) and returned to the workflow, so
`publish_image` checks S3's checksum of its copy against that digest instead of decoding again.
The same decode makes the WebP thumbnail, staged beside the image for `publish_image` to copy.
"""

from __future__ import annotations

import json
import logging

import aiohttp
import httpx
import pydantic
from botocore.exceptions import BotoCoreError, ClientError
from google import genai
from google.genai import errors, types
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.call_window import CallWindow
from activities.cpu_pool import run_cpu
from activities.gemini_outcome import DeliveredImage, classify_api_error, classify_transport_error, delivered_image
from activities.heartbeat import with_heartbeats
from activities.image_check import InvalidImageError, VerifiedImage, verify_image
from activities.metrics import count, model_call_in_flight, record_queue_wait
from activities.storage_backoff import store_with_retries
from clients.object_store import ObjectStore, StoredObject
from clients.settings import Settings
from kernel import failure_codes
from kernel.object_keys import staging_key, thumbnail_key
from kernel.payloads import GeneratedImage, GenerateImageInput, ImageRef, ReferenceImage
from kernel.thumbnails import THUMBNAIL_MIME

log = logging.getLogger(__name__)

# Attempts at a call that answered without a usable image (NO_IMAGE, invalid bytes) before the
# variation fails for good: a few tries help, many only spend money.
MAX_NO_IMAGE_ATTEMPTS = 3


def build_gemini_client(settings: Settings) -> genai.Client:
    """A google-genai client with `api_version` pinned and SDK retries off (Temporal retries).

    Uses the emulator at `GOOGLE_GEMINI_BASE_URL` when no API key is configured.
    """
    options = types.HttpOptions(
        api_version=settings.gemini_api_version,
        base_url=settings.effective_gemini_base_url,
        timeout=int(settings.gemini_timeout_s * 1000),  # milliseconds
    )
    return genai.Client(api_key=settings.gemini_api_key or "emulator", http_options=options)


def staged_from_head(key: str, found: StoredObject | None) -> GeneratedImage | None:
    """The staged image described by a HEAD of `key` (None when absent or not ours): what an
    earlier attempt (standard or batch) already paid for."""
    if found is None or "sha256" not in found.metadata:
        return None
    meta = found.metadata
    return GeneratedImage(
        staged=ImageRef(
            key=key,
            sha256=meta["sha256"],
            size=found.size,
            mime=found.content_type,
            width=int(meta["width"]),
            height=int(meta["height"]),
        ),
        model_version=meta.get("model-version") or None,
        response_id=meta.get("response-id") or None,
        usage=json.loads(meta.get("usage", "{}")),
        model_called=False,
    )


async def stage_image(
    store: ObjectStore, key: str, image: DeliveredImage, verified: VerifiedImage, model: str
) -> GeneratedImage:
    """Stage the model's verified image at `key` (S3 checks its SHA-256), with the metadata
    `staged_from_head` reads back, so a retry (standard or batch) never pays for it again.
    Raises what `store_with_retries` raises when S3 stays down."""
    info, sha256 = verified.info, verified.sha256
    metadata = {
        "sha256": sha256,
        "width": str(info.width),
        "height": str(info.height),
        "model-version": image.model_version or "",
        "response-id": image.response_id or "",
        "usage": json.dumps(image.usage, separators=(",", ":")),
    }
    await store_with_retries(
        lambda: store.put(key, image.data, info.mime, metadata, sha256=sha256), what=f"stage {key}"
    )
    count("render_images_generated", model=model)
    return GeneratedImage(
        staged=ImageRef(
            key=key, sha256=sha256, size=len(image.data), mime=info.mime, width=info.width, height=info.height
        ),
        model_version=image.model_version,
        response_id=image.response_id,
        usage=image.usage,
    )


def _count_failure(model: str, err: ApplicationError) -> None:
    code = failure_codes.api_code(err.type)
    count("render_model_errors", model=model, error_code=code, retryable=str(not err.non_retryable).lower())
    if err.type == failure_codes.CONTENT_BLOCKED:
        reason = (
            err.details[0].get("reason", "unknown") if err.details and isinstance(err.details[0], dict) else "unknown"
        )
        count("render_blocked", model=model, reason=str(reason))


class GeminiActivities:
    """Activities that call the model; constructed once per worker with its clients."""

    def __init__(
        self, client: genai.Client, store: ObjectStore, window: CallWindow | None = None, *, project_label: bool = True
    ) -> None:
        """`window`: the fleet's sliding minute of model calls, asked for a place before each
        call (None: calls are paced by their task queue alone). `project_label`: whether
        `render_queue_wait_seconds` carries the project id (`METRICS_PROJECT_LABEL`)."""
        self._client = client
        self._store = store
        self._window = window
        self._project_label = project_label

    async def _call_model(self, inp: GenerateImageInput) -> types.GenerateContentResponse:
        plan = inp.plan
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=plan.aspect_ratio, image_size=plan.image_size),
        )
        contents: list[types.Part] = [types.Part.from_text(text=plan.prompt)]
        for reference in inp.references:
            contents.append(
                types.Part.from_bytes(data=await self._reference_bytes(reference), mime_type=reference.mime)
            )
        if self._window is not None:
            await self._window.admit(plan.model)
        count("render_model_calls", model=plan.model)
        try:
            with model_call_in_flight(plan.model):
                return await with_heartbeats(
                    self._client.aio.models.generate_content(
                        model=plan.model, contents=types.Content(role="user", parts=contents), config=config
                    )
                )
        # `from None`: the message already carries the SDK error, and a chained one (with its
        # stack) can push the failure past the server's size limit for pending-activity details.
        except errors.APIError as exc:
            raise classify_api_error(exc) from None
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise classify_transport_error(exc) from None
        except pydantic.ValidationError as exc:
            # google-genai parses the body before we see it: undecodable inline data
            # (truncated base64) surfaces here. Bounded retries, like any unusable answer.
            raise ApplicationError(
                f"model answer could not be parsed: {str(exc)[:300]}",
                type=failure_codes.INVALID_IMAGE,
                non_retryable=activity.info().attempt >= MAX_NO_IMAGE_ATTEMPTS,
            ) from exc

    async def _reference_bytes(self, reference: ReferenceImage) -> bytes:
        """The bytes of a reference asset; non-retryable InvalidRequest when it was deleted."""
        if await self._store.head(reference.key) is None:
            raise ApplicationError(
                f"reference asset {reference.asset_id} was deleted",
                type=failure_codes.INVALID_REQUEST,
                non_retryable=True,
            )
        return await self._store.get(reference.key)

    async def _reuse(self, earlier_key: str, key: str) -> GeneratedImage | None:
        """Copy an image an earlier task already paid for (still staged) to `key`, server-side
        (metadata included); None when there is none or its bytes do not match its checksum."""
        earlier = staged_from_head(earlier_key, await self._store.head(earlier_key))
        if earlier is None:
            return None
        copied_sha256 = await self._store.copy(earlier_key, key)
        if copied_sha256 is not None and copied_sha256 != earlier.staged.sha256:
            log.warning("the image staged at %s does not match its checksum; not reusing it", earlier_key)
            await self._store.delete(key)
            return None
        log.info("reusing the image staged at %s; not calling the model", earlier_key)
        staged = earlier.staged.model_copy(update={"key": key})
        thumb = await self._store.head(thumbnail_key(earlier_key))
        if thumb is not None and thumb.metadata.get("source-sha256") == staged.sha256:
            await self._store.copy(thumbnail_key(earlier_key), thumbnail_key(key))
            staged.thumbnail_key = thumbnail_key(key)
        return earlier.model_copy(update={"staged": staged})

    async def _existing(self, key: str) -> GeneratedImage | None:
        """The image already staged at `key` by an earlier attempt (with its staged thumbnail,
        when that attempt got to stage one), or None."""
        existing = staged_from_head(key, await self._store.head(key))
        if existing is not None:
            thumb = await self._store.head(thumbnail_key(key))
            if thumb is not None and thumb.metadata.get("source-sha256") == existing.staged.sha256:
                existing.staged.thumbnail_key = thumbnail_key(key)
        return existing

    async def _generate(self, inp: GenerateImageInput) -> tuple[DeliveredImage, VerifiedImage]:
        """One model call and the checks of its answer (full decode and SHA-256, in the image
        thread pool); raises ApplicationError."""
        last_attempt = activity.info().attempt >= MAX_NO_IMAGE_ATTEMPTS
        response = await self._call_model(inp)
        image = delivered_image(response, last_attempt=last_attempt)
        try:
            return image, await run_cpu(verify_image, image.data, image.mime or None, thumbnail=True)
        except InvalidImageError as exc:
            raise ApplicationError(
                f"model returned an invalid image: {exc}", type=failure_codes.INVALID_IMAGE, non_retryable=last_attempt
            ) from exc

    async def _stage_thumbnail(self, key: str, sha256: str, thumbnail: bytes | None) -> str | None:
        """Stage the thumbnail made from the same decode beside the staged image (after it: the
        paid image lands first); `publish_image` copies it beside the final image. One try and
        no retries: without it `publish_image` makes the thumbnail itself, so a storage error
        here must not fail, or delay, a paid image. Returns its key, or None."""
        if thumbnail is None:
            return None
        thumb_key = thumbnail_key(key)
        try:
            await self._store.put(thumb_key, thumbnail, THUMBNAIL_MIME, {"source-sha256": sha256})
        except (ClientError, BotoCoreError) as exc:
            log.warning("thumbnail of %s not staged (publish_image will make it): %r", key, exc)
            return None
        return thumb_key

    @activity.defn(name="generate_image")
    async def generate_image(self, inp: GenerateImageInput) -> GeneratedImage:
        """Call Gemini once and stage the delivered image in S3; returns its reference.

        Raises ApplicationError typed per `kernel.failure_codes` (ContentBlocked, RateLimited with
        `next_retry_delay`, ModelUnavailable, NoImage, InvalidImage, ...).
        """
        record_queue_wait(inp.plan.model, inp.project_id if self._project_label else None)
        key = staging_key(inp.project_id, inp.task_id, inp.variation_index)
        existing = await self._existing(key)
        if existing is not None:
            log.info("variation already staged at %s; not calling the model again", key)
            return existing
        if inp.reuse_staging_key:
            reused = await self._reuse(inp.reuse_staging_key, key)
            if reused is not None:
                return reused
        try:
            image, verified = await self._generate(inp)
        except ApplicationError as err:
            _count_failure(inp.plan.model, err)
            raise
        generated = await stage_image(self._store, key, image, verified, inp.plan.model)
        activity.logger.info(
            "image staged", extra={"key": key, "bytes": len(image.data), "response_id": image.response_id}
        )
        generated.staged.thumbnail_key = await self._stage_thumbnail(key, verified.sha256, verified.thumbnail)
        return generated

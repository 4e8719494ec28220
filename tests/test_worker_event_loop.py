"""A worker's event loop stays responsive while images are decoded, hashed and resized, and an
unchanged image is published by a server-side copy, verified by S3's own SHA-256 (issue 10).

The real activities run through `temporalio.testing.ActivityEnvironment` against the session's
S3 and Gemini emulator. What is asserted is where the CPU-bound work runs: a sampler thread
reads every thread's Python stack while an activity runs, and the decode, the crop or the
Batch API parse must be seen on another thread and never on the event loop's (run there, it
stalls the loop for its whole CPU time). Timings of the stalls are `make bench`'s (a timed
assertion failed on a loaded CI machine), not these tests'.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import io
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import TypeVar

import httpx
import pytest
from aiohttp import web
from google.genai import types
from google.genai.batches import AsyncBatches, Batches
from PIL import Image
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.gemini import GeminiActivities, build_gemini_client
from activities.gemini_batch import BatchActivities
from activities.image_check import verify_image
from activities.image_resize import resize_for_asset
from activities.storage import StorageActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from gemini_emulator import EmulatorServer
from kernel import failure_codes
from kernel.batch_payloads import BatchItem, BatchJobRef, StageBatchInput, SubmitBatchInput
from kernel.catalog import expected_dimensions
from kernel.object_keys import final_key, staging_key
from kernel.payloads import GenerateImageInput, ImageRef, PromptPlan, PublishImageInput
from studio.localstack.ports import free_port
from tests.chaos.s3_proxy import S3FaultProxy

T = TypeVar("T")
MODEL = "gemini-3-pro-image-preview"
WIDTH, HEIGHT = expected_dimensions(MODEL, "16:9", "4K")  # 5504 x 3072


@dataclass
class Sightings:
    """Samples of the threads' Python stacks in which a watched function was running."""

    on_loop: int = 0  # on the event loop's thread: the loop was stalled by it
    elsewhere: int = 0  # on another thread (the image pool, `asyncio.to_thread`)


def _code(function: Callable[..., object]) -> CodeType:
    target = inspect.unwrap(getattr(function, "__func__", function))
    code = getattr(target, "__code__", None)
    assert isinstance(code, CodeType), function
    return code


async def _watching(work: Awaitable[T], *functions: Callable[..., object]) -> tuple[T, Sightings]:
    """Await `work` while a sampler thread reads every thread's Python stack each ~2 ms and counts
    the samples in which one of `functions` is running, on the loop's thread or elsewhere.

    What the loop's thread runs is what stalls it, whatever the machine's load: a decode on the
    loop shows up in every sample taken while it runs (Pillow and hashlib let the sampler in
    when they release the GIL), so a count of 0 there, with sightings elsewhere, means it ran
    off the loop. Loop stalls as durations are `make bench`'s business, not a test's."""
    codes = {_code(f) for f in functions}
    loop_thread = threading.get_ident()
    seen = Sightings()
    stop = threading.Event()

    def sample() -> None:
        me = threading.get_ident()
        while not stop.is_set():
            for ident, frame in sys._current_frames().items():
                walk: FrameType | None = frame
                while ident != me and walk is not None:
                    if walk.f_code in codes:
                        if ident == loop_thread:
                            seen.on_loop += 1
                        else:
                            seen.elsewhere += 1
                        break
                    walk = walk.f_back
            stop.wait(0.002)

    sampler = threading.Thread(target=sample, name="stack-sampler", daemon=True)
    sampler.start()
    try:
        return await work, seen
    finally:
        stop.set()
        await asyncio.to_thread(sampler.join)


def _big_png(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A 4K PNG: gradients with a band of noise (so decoding and resampling do real work)."""
    red = Image.linear_gradient("L").resize((width, height))
    green = red.transpose(Image.Transpose.ROTATE_180)
    blue = Image.effect_noise((width, height), 64)
    buffer = io.BytesIO()
    Image.merge("RGB", (red, green, blue)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return _big_png()


class RecordingS3Proxy(S3FaultProxy):
    """The chaos suite's S3 proxy, remembering each request's method, path and copy source."""

    def __init__(self, upstream: str, port: int) -> None:
        super().__init__(upstream, port)
        self.seen: list[tuple[str, str, str | None]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path, request.headers.get("x-amz-copy-source")))
        return await super()._handle(request)

    def requests_for(self, key: str) -> list[tuple[str, str | None]]:
        return [(method, source) for method, path, source in self.seen if path.endswith("/" + key)]


@dataclass
class Proxied:
    proxy: RecordingS3Proxy
    store: ObjectStore  # through the proxy
    direct: ObjectStore  # straight to S3, for the test's own reads and writes


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[Proxied]:
    assert settings.s3_endpoint_url is not None
    proxy = RecordingS3Proxy(settings.s3_endpoint_url, free_port())
    await proxy.start()
    try:
        via_proxy = settings.model_copy(update={"s3_endpoint_url": proxy.url})
        async with ObjectStore.open(via_proxy) as store, ObjectStore.open(settings) as direct:
            yield Proxied(proxy, store, direct)
    finally:
        await proxy.stop()


async def _stage(store: ObjectStore, data: bytes, claimed_sha256: str | None = None) -> ImageRef:
    """Stage `data` as `generate_image` does (metadata: sha256, width, height); returns its ref.
    `claimed_sha256`: a digest to record instead of the real one (a corrupted object)."""
    project, task = str(uuid.uuid4()), str(uuid.uuid4())
    key = staging_key(project, task, 0)
    sha256 = claimed_sha256 or hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    metadata = {"sha256": sha256, "width": str(width), "height": str(height)}
    # S3's checksum is always of the real bytes (S3 verifies it on PUT).
    await store.put(key, data, "image/png", metadata, sha256=hashlib.sha256(data).hexdigest())
    return ImageRef(key=key, sha256=sha256, size=len(data), mime="image/png", width=width, height=height)


def _publish_input(staged: ImageRef, output: tuple[int, int] | None = None) -> PublishImageInput:
    project, task = staged.key.split("/")[2], staged.key.split("/")[4]
    return PublishImageInput(
        staged=staged,
        final_key=final_key(project, task, 0, "image/png"),
        expected_width=WIDTH,
        expected_height=HEIGHT,
        output_width=output[0] if output else None,
        output_height=output[1] if output else None,
    )


async def test_cover_crop_of_a_4k_image_does_not_stall_the_event_loop(settings: Settings, big_png: bytes) -> None:
    async with ObjectStore.open(settings) as store:
        staged = await _stage(store, big_png)
        storage = StorageActivities(store)

        ref, seen = await _watching(
            ActivityEnvironment().run(storage.publish_image, _publish_input(staged, (1280, 720))), resize_for_asset
        )

        published = await store.get(ref.key)
    assert (ref.width, ref.height, ref.source_width, ref.source_height) == (1280, 720, WIDTH, HEIGHT)
    assert hashlib.sha256(published).hexdigest() == ref.sha256
    assert Image.open(io.BytesIO(published)).size == (1280, 720)
    # On the loop, the crop would stall it for its whole CPU time (~0.5 s here).
    assert seen.on_loop == 0 and seen.elsewhere > 0, seen


async def test_many_publishes_at_once_keep_the_loop_responsive(settings: Settings, big_png: bytes) -> None:
    """Four resizes and four copies of 4K images at once: no crop runs on the loop."""
    async with ObjectStore.open(settings) as store:
        staged = [await _stage(store, big_png) for _ in range(8)]
        storage = StorageActivities(store)
        inputs = [_publish_input(s, (1080, 1080) if i % 2 else None) for i, s in enumerate(staged)]

        refs, seen = await _watching(
            asyncio.gather(*(ActivityEnvironment().run(storage.publish_image, inp) for inp in inputs)),
            resize_for_asset,
        )

    assert [(r.width, r.height) for r in refs] == [(WIDTH, HEIGHT), (1080, 1080)] * 4
    assert seen.on_loop == 0 and seen.elsewhere > 0, seen


async def test_generate_image_verifies_a_4k_answer_off_the_event_loop(
    settings: Settings, emulator: EmulatorServer, token: str
) -> None:
    inp = GenerateImageInput(
        task_id=str(uuid.uuid4()),
        project_id=str(uuid.uuid4()),
        variation_index=0,
        plan=PromptPlan(prompt=f"a harbour {token}", model=MODEL, aspect_ratio="16:9", image_size="4K"),
    )
    async with ObjectStore.open(settings) as store:
        activities = GeminiActivities(build_gemini_client(settings), store)

        generated, seen = await _watching(ActivityEnvironment().run(activities.generate_image, inp), verify_image)

        data = await store.get(generated.staged.key)
        stored = await store.head(generated.staged.key)
    assert (generated.staged.width, generated.staged.height) == (WIDTH, HEIGHT)
    assert generated.staged.sha256 == hashlib.sha256(data).hexdigest()
    # Decoded once, here: what publish_image needs is staged with the bytes.
    assert stored is not None
    assert stored.metadata["sha256"] == generated.staged.sha256
    assert (stored.metadata["width"], stored.metadata["height"]) == (str(WIDTH), str(HEIGHT))
    assert len(emulator.calls(token)) == 1
    # The full decode and the hash (verify_image) run in the image pool, never on the loop. (The
    # loop still parses the model's JSON answer, in google-genai, and signs the staging PUT.)
    assert seen.on_loop == 0 and seen.elsewhere > 0, seen


async def test_an_unchanged_image_is_published_by_a_server_side_copy(
    settings: Settings, emulator: EmulatorServer, proxied: Proxied, token: str
) -> None:
    """generate_image decodes and stages; publish_image copies inside S3 and never reads the
    staged bytes (so it cannot decode them again)."""
    inp = GenerateImageInput(
        task_id=str(uuid.uuid4()),
        project_id=str(uuid.uuid4()),
        variation_index=0,
        plan=PromptPlan(prompt=f"a meadow {token}", model=MODEL, aspect_ratio="1:1", image_size="2K"),
    )
    generated = await ActivityEnvironment().run(
        GeminiActivities(build_gemini_client(settings), proxied.direct).generate_image, inp
    )
    staged = generated.staged
    width, height = expected_dimensions(MODEL, "1:1", "2K")
    publish = PublishImageInput(
        staged=staged,
        final_key=final_key(inp.project_id, inp.task_id, 0, staged.mime),
        expected_width=width,
        expected_height=height,
    )

    ref = await ActivityEnvironment().run(StorageActivities(proxied.store).publish_image, publish)

    final = await proxied.direct.get(ref.key)
    final_head = await proxied.direct.head(ref.key)
    assert hashlib.sha256(final).hexdigest() == staged.sha256 == ref.sha256
    assert final_head is not None and final_head.metadata["source-sha256"] == staged.sha256
    assert final_head.content_type == staged.mime
    assert await proxied.direct.head(staged.key) is None  # staging cleaned up
    on_staged = proxied.proxy.requests_for(staged.key)
    assert ("GET", None) not in on_staged, on_staged  # the staged body never left S3
    assert [m for m, _ in on_staged] == ["DELETE"], on_staged
    on_final = proxied.proxy.requests_for(ref.key)
    copies = [source for method, source in on_final if method == "PUT"]
    assert len(copies) == 1 and copies[0] is not None and copies[0].endswith(staged.key), on_final


async def test_a_copy_whose_bytes_do_not_match_the_staged_checksum_is_refused(proxied: Proxied) -> None:
    """The metadata claims the right digest but the bytes differ: S3's SHA-256 of the copy
    gives it away, the final object is removed, and the publish fails retryably."""
    real = _big_png(640, 360)
    claimed = hashlib.sha256(b"the bytes generate_image hashed").hexdigest()
    staged = await _stage(proxied.direct, real, claimed_sha256=claimed)
    publish = _publish_input(staged).model_copy(update={"expected_width": 640, "expected_height": 360})

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(StorageActivities(proxied.store).publish_image, publish)

    assert caught.value.type == failure_codes.STORAGE_UNAVAILABLE
    assert not caught.value.non_retryable
    assert "checksum mismatch" in caught.value.message
    assert await proxied.direct.head(publish.final_key) is None
    assert await proxied.direct.head(staged.key) is not None  # kept for a retry or an operator


async def test_a_staged_object_that_is_not_the_one_staged_is_refused(proxied: Proxied) -> None:
    """The workflow's digest names other bytes than the staged object holds (replaced or
    corrupted, metadata and all): refused, and nothing is left at the final key."""
    staged = await _stage(proxied.direct, _big_png(640, 360))
    other = staged.model_copy(update={"sha256": hashlib.sha256(b"another image").hexdigest()})
    publish = _publish_input(other).model_copy(update={"expected_width": 640, "expected_height": 360})

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(StorageActivities(proxied.store).publish_image, publish)

    assert (caught.value.type, caught.value.non_retryable) == (failure_codes.STORAGE_UNAVAILABLE, False)
    assert await proxied.direct.head(publish.final_key) is None
    assert ("GET", None) not in proxied.proxy.requests_for(staged.key)


async def test_wrong_aspect_ratio_and_undecodable_bytes_stay_non_retryable_invalid_image(proxied: Proxied) -> None:
    storage = StorageActivities(proxied.store)
    square = await _stage(proxied.direct, _big_png(500, 500))
    with pytest.raises(ApplicationError) as wrong_ratio:
        await ActivityEnvironment().run(storage.publish_image, _publish_input(square))

    garbage = b"\x89PNG\r\n\x1a\n" + b"not really" * 100
    key = staging_key(str(uuid.uuid4()), str(uuid.uuid4()), 0)
    sha256 = hashlib.sha256(garbage).hexdigest()
    await proxied.direct.put(key, garbage, "image/png", {"sha256": sha256, "width": "5504", "height": "3072"})
    broken = ImageRef(key=key, sha256=sha256, size=len(garbage), mime="image/png", width=WIDTH, height=HEIGHT)
    with pytest.raises(ApplicationError) as undecodable:
        await ActivityEnvironment().run(storage.publish_image, _publish_input(broken, (1280, 720)))

    for caught in (wrong_ratio, undecodable):
        assert (caught.value.type, caught.value.non_retryable) == (failure_codes.INVALID_IMAGE, True)


@pytest.fixture(scope="module")
def remote_emulator() -> Iterator[str]:
    """An emulator in a process of its own sending realistic 4K bytes (about 20 MB a PNG), its
    batch jobs done at once: what the worker parses is then the only CPU work in this process
    (the session's in-process emulator would serialise the same output under this GIL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gemini_emulator", "--port", str(port), "--realistic-bytes"]
    process = subprocess.Popen([*command, "--batch-turnaround-s", "0", "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_reading_and_staging_a_batch_job_of_4k_images_keeps_the_loop_responsive(
    settings: Settings, remote_emulator: str, token: str
) -> None:
    """A succeeded Batch API job of three realistic 4K PNGs: its last poll and its staging each
    download ~170 MB of JSON (every image base64, twice: the Operation's metadata and response).
    Parsed on the loop (google-genai's async client), that stalls it for the whole parse; the
    activities parse in a thread, so the loop keeps turning (and heartbeating)."""
    remote = settings.model_copy(update={"gemini_api_key": None, "gemini_base_url": remote_emulator})
    plan = PromptPlan(prompt=f"a wide harbour {token}", model=MODEL, aspect_ratio="16:9", image_size="4K")
    task_id, project_id = str(uuid.uuid4()), str(uuid.uuid4())
    items = [
        BatchItem(
            task_workflow_id=f"task-{task_id}", task_id=task_id, project_id=project_id, variation_index=i, plan=plan
        )
        for i in range(3)
    ]
    client = build_gemini_client(remote)
    async with ObjectStore.open(remote) as store:
        batch = BatchActivities(client, store, remote)
        submit = SubmitBatchInput(display_name=f"loop-{token}", model=MODEL, items=items)
        ref: BatchJobRef = await ActivityEnvironment().run(batch.submit_batch_job, submit)

        # The read that finds the job SUCCEEDED (the emulator renders its output then).
        parsers = (Batches.get, AsyncBatches.get, types.BatchJob._from_response)
        state, poll_seen = await _watching(ActivityEnvironment().run(batch.get_batch_job_state, ref), *parsers)
        staged, stage_seen = await _watching(
            ActivityEnvironment().run(batch.stage_batch_results, StageBatchInput(job_name=ref.job_name, items=items)),
            *parsers,
        )

        heads = [await store.head(outcome.generated.staged.key) for outcome in staged.outcomes if outcome.generated]
    assert state.state == "JOB_STATE_SUCCEEDED"
    assert [o.error for o in staged.outcomes] == [None] * 3
    assert [(o.generated.staged.width, o.generated.staged.height) for o in staged.outcomes if o.generated] == [
        (WIDTH, HEIGHT)
    ] * 3
    assert all(head is not None and head.size > 15_000_000 for head in heads), heads
    # Parsed on the loop, ~170 MB of JSON would stall it for the whole parse: the reads run in a
    # thread (the SDK's json.loads still holds the GIL wherever it runs: docs/decisions.md).
    for what, seen in (("poll", poll_seen), ("staging", stage_seen)):
        assert seen.on_loop == 0 and seen.elsewhere > 0, (what, seen)

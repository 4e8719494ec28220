"""The two S3 changes docker-compose needs, on the local stack's real S3 endpoint: presigned URLs
signed for S3_PUBLIC_ENDPOINT_URL while the app talks to S3_ENDPOINT_URL, and `ensure_bucket`
giving up on an endpoint that never answers after a bounded wait, with a clear error.
(Waiting for an S3 store that starts late: tests/test_compose_run.py, through `studio migrate`.)"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from clients.object_store import ObjectStore, ObjectStoreUnavailable
from clients.settings import Settings
from studio.localstack.ports import free_port


async def test_presigned_urls_name_the_public_endpoint_and_work(settings: Settings) -> None:
    assert settings.s3_endpoint_url is not None
    port = urlsplit(settings.s3_endpoint_url).port
    internal, public = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
    split = settings.model_copy(update={"s3_endpoint_url": internal, "s3_public_endpoint_url": public})
    key = f"compose-s3/{uuid.uuid4().hex}.txt"
    async with ObjectStore.open(split) as store:
        await store.put(key, b"hello from the public endpoint", "text/plain", {})
        url = await store.presigned_get_url(key, 60)
    async with ObjectStore.open(settings.model_copy(update={"s3_endpoint_url": internal})) as store:
        unsplit_url = await store.presigned_get_url(key, 60)

    assert url.startswith(f"{public}/"), url
    assert unsplit_url.startswith(f"{internal}/"), unsplit_url  # no public endpoint: the app's own
    async with httpx.AsyncClient(timeout=10) as client:
        fetched = await client.get(url)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == b"hello from the public endpoint"


async def test_presigned_put_urls_name_the_public_endpoint_too(settings: Settings) -> None:
    assert settings.s3_endpoint_url is not None
    port = urlsplit(settings.s3_endpoint_url).port
    internal, public = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
    split = settings.model_copy(update={"s3_endpoint_url": internal, "s3_public_endpoint_url": public})
    key = f"compose-s3/{uuid.uuid4().hex}.txt"
    async with ObjectStore.open(split) as store:
        url = await store.presigned_put_url(key, "text/plain", 60)
        assert url.startswith(f"{public}/"), url
        async with httpx.AsyncClient(timeout=10) as client:
            # The signature covers the host: the same URL sent to the internal name is refused
            # (the local S3 verifies SigV4), which is why it cannot be rewritten afterwards.
            rewritten = await client.put(
                url.replace(public, internal), content=b"x", headers={"Content-Type": "text/plain"}
            )
            uploaded = await client.put(url, content=b"uploaded", headers={"Content-Type": "text/plain"})
        assert rewritten.status_code == 403, rewritten.text
        assert uploaded.status_code == 200, uploaded.text
        assert await store.get(key) == b"uploaded"


def test_an_empty_public_endpoint_means_the_apps_own() -> None:
    assert Settings(_env_file=None, s3_public_endpoint_url="").s3_public_endpoint_url is None


async def test_ensure_bucket_gives_up_on_an_endpoint_that_never_answers(settings: Settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    async with ObjectStore.open(settings.model_copy(update={"s3_endpoint_url": closed})) as store:
        with pytest.raises(ObjectStoreUnavailable) as gave_up:
            await store.ensure_bucket(settings.aws_region, wait_s=2.0)
    elapsed = time.monotonic() - started
    assert f"S3 at {closed} did not answer within 2 s" in str(gave_up.value)
    assert 2.0 <= elapsed < 10.0  # retried for the whole wait, then stopped

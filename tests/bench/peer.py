"""The peer: the same work as the service, written as the plain asyncio script one would write
first. For each image: google-genai generate_content to the same emulator (SDK retries off; on a
429, sleep what RetryInfo says and call again; on a 5xx, sleep a second), PUT the image to the
same S3 bucket (aioboto3), INSERT a row into the same Postgres (asyncpg, its own table). At most
`concurrency` images at a time; a slot is held while its call sleeps on a 429.

`python -m tests.bench.peer '<PeerJob as JSON>'` prints a PeerResult as one JSON line.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import time
import uuid

import aioboto3
import asyncpg
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

_DELAY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)s$")
TABLE = """CREATE TABLE IF NOT EXISTS bench_peer_images (
    id uuid PRIMARY KEY, run text NOT NULL, file_key text NOT NULL, content_type text NOT NULL,
    byte_size integer NOT NULL, sha256 text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""


class PeerJob(BaseModel):
    run: str  # a tag in prompts, keys and rows
    images: int
    concurrency: int
    gemini_base_url: str
    gemini_api_key: str
    model: str = "gemini-3-pro-image-preview"
    aspect_ratio: str = "1:1"
    image_size: str | None = None
    s3_endpoint_url: str
    s3_bucket: str
    aws_region: str = "us-east-1"
    database_url: str  # postgresql:// (asyncpg)


class PeerResult(BaseModel):
    started: float  # Unix time of the first call
    finished: float  # Unix time the last image's row was inserted
    delivered: int
    failed: int
    calls: int
    rate_limited: int
    server_errors: int


def _retry_delay_s(exc: errors.APIError) -> float:
    body = exc.details if isinstance(exc.details, dict) else {}
    for detail in body.get("error", {}).get("details", []):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return 1.0


def _final_image(response: types.GenerateContentResponse) -> types.Blob | None:
    parts = response.candidates[0].content.parts if response.candidates and response.candidates[0].content else None
    images = [p.inline_data for p in parts or [] if p.inline_data is not None and not p.thought]
    return images[-1] if images else None


async def run(job: PeerJob) -> PeerResult:
    client = genai.Client(
        api_key=job.gemini_api_key,
        http_options=types.HttpOptions(base_url=job.gemini_base_url, api_version="v1beta", timeout=180_000),
    )
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=job.aspect_ratio, image_size=job.image_size),
    )
    counts = {"calls": 0, "rate_limited": 0, "server_errors": 0, "delivered": 0, "failed": 0}
    finished = 0.0
    pool = await asyncpg.create_pool(job.database_url, min_size=1, max_size=min(job.concurrency, 10))
    await pool.execute(TABLE)
    session = aioboto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=job.aws_region)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(job.images):
        queue.put_nowait(i)

    async def one(s3: object, i: int) -> None:
        nonlocal finished
        while True:
            counts["calls"] += 1
            try:
                response = await client.aio.models.generate_content(
                    model=job.model, contents=f"{job.run} peer image {i:05d}x", config=config
                )
                break
            except errors.APIError as exc:
                if exc.code == 429:
                    counts["rate_limited"] += 1
                    await asyncio.sleep(_retry_delay_s(exc))
                elif exc.code >= 500:
                    counts["server_errors"] += 1
                    await asyncio.sleep(1.0)
                else:
                    raise
        image = _final_image(response)
        if image is None or not image.data:
            counts["failed"] += 1
            return
        key = f"bench-peer/{job.run}/{i:05d}.png"
        await s3.put_object(  # type: ignore[attr-defined]
            Bucket=job.s3_bucket, Key=key, Body=image.data, ContentType=image.mime_type or "image/png"
        )
        await pool.execute(
            "INSERT INTO bench_peer_images (id, run, file_key, content_type, byte_size, sha256) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            uuid.uuid4(), job.run, key, image.mime_type or "image/png", len(image.data),
            hashlib.sha256(image.data).hexdigest(),
        )  # fmt: skip
        counts["delivered"] += 1
        finished = time.time()

    async def slot(s3: object) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            try:
                await one(s3, i)
            except Exception as exc:  # a failed image is counted, the others go on
                print(f"peer image {i} failed: {exc!r}"[:300], file=sys.stderr)
                counts["failed"] += 1

    async with session.client("s3", endpoint_url=job.s3_endpoint_url) as s3:
        started = time.time()
        await asyncio.gather(*(slot(s3) for _ in range(job.concurrency)))
    await pool.close()
    await client.aio.aclose()
    return PeerResult(started=started, finished=finished or time.time(), **counts)


if __name__ == "__main__":
    result = asyncio.run(run(PeerJob.model_validate_json(sys.argv[1])))
    print(result.model_dump_json(), flush=True)

"""`make bench-export`: time and peak memory of a ZIP export of 200 4K images (issue 13).

On the benchmark's embedded stack (tests/bench/env.py: Postgres, Temporal, SeaweedFS in a process
of their own; the API and one `studio worker` as real processes), 200 assets are seeded with
the emulator's realistic 4K PNGs (`realistic_image`, about 20 MB each, every one different),
then one export is started through the API and followed to the end. Printed: wall time from the
POST to `succeeded`, throughput, the worker's resident memory before the export and its peak
during it (sampled every 0.1 s, with children), the archive's size; the archive is read back
from S3 and checked (every member's SHA-256 against its row, via the manifest).

Environment: EXPORT_BENCH_IMAGES (default 200), BENCH_TMP (where the stack keeps its data;
default here /tmp: the images and the archive take about 8 GB, too much for /dev/shm).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import psutil

from clients.object_store import ObjectStore
from clients.settings import Settings
from db.assets import insert_upload_asset
from gemini_emulator.images import realistic_image
from kernel.catalog import expected_dimensions
from kernel.exports import export_key
from kernel.payloads import ImageRef
from tests.bench.env import BenchEnv, RssPeaks, sample_rss

MODEL = "gemini-3-pro-image-preview"
MB = 1024 * 1024


async def seed(env: BenchEnv, settings: Settings, project_id: str, count: int) -> tuple[dict[str, str], int]:
    """`count` upload assets of distinct realistic 4K PNGs; ({asset id: sha256}, total bytes)."""
    width, height = expected_dimensions(MODEL, "16:9", "4K")
    assert env.sessions is not None
    ids: dict[str, str] = {}
    total = 0
    async with ObjectStore.open(settings) as store:
        for index in range(count):
            data = await asyncio.to_thread(realistic_image, width, height, "image/png", f"bench-{index}")
            digest = hashlib.sha256(data).hexdigest()
            key = f"projects/{project_id}/uploads/{uuid.uuid4()}.png"
            await store.put(key, data, "image/png", {}, sha256=digest)
            ref = ImageRef(key=key, sha256=digest, size=len(data), mime="image/png", width=width, height=height)
            async with env.sessions() as session:
                asset = await insert_upload_asset(session, uuid.UUID(project_id), ref, {"filename": f"{index}.png"})
                await session.commit()
            ids[str(asset.id)] = digest
            total += len(data)
    return ids, total


async def verify(settings: Settings, key: str, expected: dict[str, str], workdir: Path) -> int:
    """Download the archive to disk, open it and check every image's SHA-256; its member count."""
    path = workdir / "export.zip"
    async with ObjectStore.open(settings) as store:
        with path.open("wb") as out:
            async for chunk in store.iter_chunks(key, 8 * MB):
                out.write(chunk)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert len(names) == len(set(names)) == len(expected) + 2, "duplicate or missing members"
        for record in json.loads(archive.read("manifest.json"))["images"]:
            hasher = hashlib.sha256()
            with archive.open(record["file"]) as member:
                while chunk := member.read(8 * MB):
                    hasher.update(chunk)
            assert hasher.hexdigest() == expected[record["asset_id"]]
    path.unlink()
    return len(names)


async def _finished(http: httpx.AsyncClient, export_id: str) -> dict[str, Any]:
    """Poll the export every 0.5 s until it is no longer queued or running."""
    while True:
        export: dict[str, Any] = (await http.get(f"/api/v1/exports/{export_id}")).json()
        if export["status"] not in ("queued", "running"):
            return export
        await asyncio.sleep(0.5)


async def main() -> None:
    os.environ.setdefault("BENCH_TMP", "/tmp")
    count = int(os.environ.get("EXPORT_BENCH_IMAGES", "200"))
    async with BenchEnv.running(workers=1) as env:
        await env.restart_service(workers=1)
        assert env.endpoints is not None
        settings = env.endpoints.apply(Settings(_env_file=None))
        async with env.client(timeout_s=120) as http:
            project_id = (await http.post("/api/v1/projects", json={"name": "export bench"})).json()["id"]
            started = time.monotonic()
            rows, total = await seed(env, settings, project_id, count)
            ids = list(rows)
            print(f"seeded {count} 4K PNGs, {total / MB:.0f} MB, in {time.monotonic() - started:.0f} s")
            [worker_pid] = env.worker_pids().values()
            baseline = psutil.Process(worker_pid).memory_info().rss
            peaks, stop = RssPeaks(), asyncio.Event()
            sampler = asyncio.create_task(sample_rss({"worker": worker_pid}, stop, peaks, interval_s=0.1))
            started = time.monotonic()
            response = await http.post(
                f"/api/v1/projects/{project_id}/exports", json={"format": "zip", "asset_ids": ids}
            )
            assert response.status_code == 202, response.text
            export_id = response.json()["id"]
            export = await _finished(http, export_id)
            elapsed = time.monotonic() - started
            stop.set()
            await sampler
        assert export["status"] == "succeeded", export
        members = await verify(settings, export_key(project_id, export_id, "zip"), rows, env.root)
    size_mb = export["size"] / MB
    print(f"ZIP export of {count} 4K images ({total / MB:.0f} MB in, {size_mb:.0f} MB archive, {members} members)")
    print(f"  wall time POST -> succeeded: {elapsed:.1f} s ({total / MB / elapsed:.0f} MB/s)")
    print(f"  worker RSS before: {baseline / MB:.0f} MB; peak during the export: {peaks.peaks['worker'] / MB:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())

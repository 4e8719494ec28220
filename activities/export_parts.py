"""The parts of one S3 multipart upload, sent one at a time in the background, so that the
next part is built (read from S3, written through `zipfile`) while the previous one travels.

Memory: at most one part in flight besides the one being built (2 x PART_BYTES).
"""

from __future__ import annotations

import asyncio

from clients.object_store import ObjectStore
from kernel.exports import ZipPart


class PartPipeline:
    """Uploads parts in order, one in flight at a time; `parts` holds those that landed.

    Errors of an upload surface at the next `send` or `settle`. `cancel()` abandons the part
    in flight (a resumed build uploads its number again)."""

    def __init__(self, store: ObjectStore, key: str, upload_id: str, landed: list[ZipPart]) -> None:
        self._store, self._key, self._upload_id = store, key, upload_id
        self.parts = list(landed)
        self._inflight: asyncio.Task[ZipPart] | None = None

    async def _upload(self, number: int, data: bytes) -> ZipPart:
        return ZipPart(number=number, etag=await self._store.upload_part(self._key, self._upload_id, number, data))

    async def send(self, data: bytes) -> int:
        """Wait for the part in flight to land, then start uploading `data` as the next part;
        returns its number."""
        await self.settle()
        number = len(self.parts) + 1
        self._inflight = asyncio.create_task(self._upload(number, data))
        return number

    async def settle(self) -> list[ZipPart]:
        """Wait for the part in flight (if any); every landed part, in order."""
        if self._inflight is not None:
            task, self._inflight = self._inflight, None
            self.parts.append(await task)
        return self.parts

    def cancel(self) -> None:
        """Abandon the part in flight."""
        if self._inflight is not None:
            self._inflight.cancel()
            self._inflight = None

"""The ZIP export: the originals streamed from S3 into one archive streamed back into S3 by a
multipart upload, then `manifest.json` and `manifest.csv`. Resumable at part boundaries.

Memory: one read chunk (1 MiB) and less than two parts (PART_BYTES) at a time, whatever the
number or size of the images: a 200-image 4K project never has more than one image's chunk in
hand.

Why the standard library's `zipfile` and not stream-zip or zipstream-ng: a resumed attempt must
write the central directory of members an earlier attempt wrote. `zipfile` keeps each member's
record as a public `ZipInfo` (name, offset, CRC-32, sizes) in `ZipFile.filelist`, and writes to
any object with `write` and `tell` (data descriptors, ZIP64); so the records are carried in the
activity's heartbeat details and handed back to a new `ZipFile` whose output starts at the
offset where the last recorded part ended. The streaming libraries keep the same state inside
a generator, which cannot be saved or resumed.

Members are stored, not deflated: PNG, JPEG and WebP are compressed already (deflate would
spend CPU to save under 1 %).
"""

from __future__ import annotations

import zipfile
from datetime import datetime

from kernel.exports import ZipEntry

# S3 multipart parts must be at least 5 MiB except the last; a checkpoint needs a part that
# ends on a member boundary, so a part is cut after a member once MIN_PART_BYTES are waiting,
# and inside a member every PART_BYTES.
MIN_PART_BYTES = 5 * 1024 * 1024
PART_BYTES = 8 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
_STORED_MODE = 0o644 << 16
_ZIP64_VERSION = 45


class _Sink:
    """What `zipfile` writes to: a buffer that knows its offset in the whole archive."""

    def __init__(self, offset: int) -> None:
        self.buffer = bytearray()
        self.offset = offset

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        """Nothing to flush: the driver takes the buffer as parts."""

    def close(self) -> None:
        """Nothing to close: the buffer belongs to the writer."""


def _date_time(at: datetime) -> tuple[int, int, int, int, int, int]:
    """A member's DOS timestamp (UTC; ZIP cannot store years before 1980)."""
    return (max(at.year, 1980), at.month, at.day, at.hour, at.minute, at.second)


class ZipWriter:
    """A ZIP archive written member by member into a buffer the caller drains as parts.

    Synchronous (CRC-32 and copying): call it from the image thread pool. `offset` and
    `entries` restore an archive whose first `offset` bytes (holding `entries`) were already
    uploaded. Raises ValueError when a member is opened while another is open."""

    def __init__(self, offset: int = 0, entries: list[ZipEntry] | None = None) -> None:
        self._sink = _Sink(offset)
        self._zip = zipfile.ZipFile(self._sink, "w")
        for entry in entries or []:
            info = self._info(entry.name, entry.date_time)
            info.header_offset, info.CRC = entry.offset, entry.crc
            info.file_size = info.compress_size = entry.size
            info.flag_bits = 0x08  # a data descriptor follows the bytes (the output is not seekable)
            info.create_version = info.extract_version = _ZIP64_VERSION
            self._zip.filelist.append(info)
            self._zip.NameToInfo[entry.name] = info
        self._open: zipfile.ZipInfo | None = None
        self._handle: object = None

    @staticmethod
    def _info(name: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = _STORED_MODE
        return info

    @property
    def buffered(self) -> int:
        """Bytes written and not yet taken, in bytes."""
        return len(self._sink.buffer)

    @property
    def offset(self) -> int:
        """Bytes of the archive so far (taken or not)."""
        return self._sink.offset

    def open_member(self, name: str, at: datetime) -> None:
        """Start member `name` (stored, ZIP64) with timestamp `at`."""
        if self._open is not None:
            raise ValueError(f"member {self._open.filename} is still open")
        self._open = self._info(name, _date_time(at))
        self._handle = self._zip.open(self._open, "w", force_zip64=True)

    def write(self, data: bytes) -> None:
        """Append `data` to the open member."""
        self._handle.write(data)  # type: ignore[attr-defined]

    def close_member(self) -> ZipEntry:
        """Finish the open member (its data descriptor) and return its record."""
        info = self._open
        if info is None:
            raise ValueError("no member is open")
        self._handle.close()  # type: ignore[attr-defined]
        self._open, self._handle = None, None
        return ZipEntry(
            name=info.filename, offset=info.header_offset, crc=info.CRC, size=info.file_size, date_time=info.date_time
        )

    def add(self, name: str, at: datetime, data: bytes) -> ZipEntry:
        """A whole small member (the manifests) at once."""
        self.open_member(name, at)
        self.write(data)
        return self.close_member()

    def finish(self) -> None:
        """Write the central directory (every member, restored ones included) and the end record."""
        self._zip.close()

    def take(self) -> bytes:
        """The buffered bytes, removed from the buffer."""
        data = bytes(self._sink.buffer)
        self._sink.buffer.clear()
        return data

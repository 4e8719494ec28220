"""Verify image bytes with Pillow before anything is stored or published.

Everything here is CPU-bound and synchronous: activities call it through
`activities.cpu_pool.run_cpu`, never on the event loop.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


class InvalidImageError(ValueError):
    """The bytes are not a decodable image of the declared type."""


@dataclass(frozen=True)
class ImageInfo:
    """Decoded facts about an image: mime type and size in pixels."""

    mime: str
    width: int
    height: int


def inspect_image(data: bytes, declared_mime: str | None) -> ImageInfo:
    """Decode `data` fully and check it matches `declared_mime` (when given).

    Raises InvalidImageError when the bytes do not decode, are not PNG/JPEG/WebP, or are of a
    different type than declared.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            width, height = img.size
            img.load()  # full decode: truncated data fails here, not at the first reader
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"image bytes do not decode ({len(data)} bytes): {exc}") from exc
    mime = FORMAT_MIME.get(fmt)
    if mime is None:
        raise InvalidImageError(f"unsupported image format {fmt!r}")
    if declared_mime and declared_mime.lower() != mime:
        raise InvalidImageError(f"declared {declared_mime} but the bytes are {mime}")
    return ImageInfo(mime=mime, width=width, height=height)


@dataclass(frozen=True)
class VerifiedImage:
    """An image that decoded fully, and the SHA-256 (hex) of its bytes."""

    info: ImageInfo
    sha256: str


def sha256_hex(data: bytes) -> str:
    """SHA-256 of `data`, hex (hashlib releases the GIL while it hashes)."""
    return hashlib.sha256(data).hexdigest()


def verify_image(data: bytes, declared_mime: str | None) -> VerifiedImage:
    """`inspect_image` and `sha256_hex` in one call, so one trip to the thread pool does both.

    Raises InvalidImageError like `inspect_image`.
    """
    return VerifiedImage(info=inspect_image(data, declared_mime), sha256=sha256_hex(data))


def aspect_matches(width: int, height: int, expected_width: int, expected_height: int, tolerance: float = 0.02) -> bool:
    """True when width/height is within `tolerance` (relative) of the expected aspect ratio."""
    actual = width / height
    expected = expected_width / expected_height
    return abs(actual - expected) / expected <= tolerance

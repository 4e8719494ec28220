"""Verify image bytes with Pillow before anything is stored or published.

Everything here is CPU-bound and synchronous: activities call it through
`activities.cpu_pool.run_cpu`, never on the event loop.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from kernel.thumbnails import webp_thumbnail

log = logging.getLogger(__name__)

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
    return _decode(data, declared_mime, thumbnail=False)[0]


def _decode(data: bytes, declared_mime: str | None, *, thumbnail: bool) -> tuple[ImageInfo, bytes | None]:
    """`inspect_image`, plus the WebP thumbnail made from the same decoded pixels when asked
    (None when the thumbnail cannot be made: it is never a reason to refuse the image)."""
    thumb: bytes | None = None
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            width, height = img.size
            img.load()  # full decode: truncated data fails here, not at the first reader
            if thumbnail and fmt in FORMAT_MIME:
                try:
                    thumb = webp_thumbnail(img)  # scales the decoded image in place
                except (OSError, ValueError) as exc:
                    log.warning("no thumbnail for a %dx%d %s image: %s", width, height, fmt, exc)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"image bytes do not decode ({len(data)} bytes): {exc}") from exc
    mime = FORMAT_MIME.get(fmt)
    if mime is None:
        raise InvalidImageError(f"unsupported image format {fmt!r}")
    if declared_mime and declared_mime.lower() != mime:
        raise InvalidImageError(f"declared {declared_mime} but the bytes are {mime}")
    return ImageInfo(mime=mime, width=width, height=height), thumb


def thumbnail_of(data: bytes) -> bytes:
    """The WebP thumbnail (`kernel.thumbnails`) of image bytes, for an image that was not decoded
    on its way in (published before thumbnails existed, or copied from an earlier task).

    Raises InvalidImageError when the bytes do not decode or the thumbnail cannot be made.
    """
    info, thumb = _decode(data, None, thumbnail=True)
    if thumb is None:
        raise InvalidImageError(f"no thumbnail can be made of this {info.width}x{info.height} {info.mime} image")
    return thumb


@dataclass(frozen=True)
class VerifiedImage:
    """An image that decoded fully, the SHA-256 (hex) of its bytes, and its WebP thumbnail when
    one was asked for and could be made."""

    info: ImageInfo
    sha256: str
    thumbnail: bytes | None = None


def sha256_hex(data: bytes) -> str:
    """SHA-256 of `data`, hex (hashlib releases the GIL while it hashes)."""
    return hashlib.sha256(data).hexdigest()


def verify_image(data: bytes, declared_mime: str | None, *, thumbnail: bool = False) -> VerifiedImage:
    """`inspect_image` and `sha256_hex` in one call, so one trip to the thread pool does both;
    with `thumbnail`, the WebP thumbnail is made from the same decode (no second one).

    Raises InvalidImageError like `inspect_image`.
    """
    info, thumb = _decode(data, declared_mime, thumbnail=thumbnail)
    return VerifiedImage(info=info, sha256=sha256_hex(data), thumbnail=thumb)


def aspect_matches(width: int, height: int, expected_width: int, expected_height: int, tolerance: float = 0.02) -> bool:
    """True when width/height is within `tolerance` (relative) of the expected aspect ratio."""
    actual = width / height
    expected = expected_width / expected_height
    return abs(actual - expected) / expected <= tolerance

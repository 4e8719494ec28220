"""Enforce an asset type's exact output size with Pillow.

CPU-bound and synchronous: activities call it through `activities.cpu_pool.run_cpu`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from activities.image_check import InvalidImageError, sha256_hex
from kernel.thumbnails import webp_thumbnail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResizedImage:
    """PNG bytes at the asset type's size, their SHA-256 (hex), and the source's size."""

    data: bytes
    sha256: str
    source_width: int
    source_height: int
    # WebP thumbnail of the cropped image (kernel.thumbnails), made from the same pixels.
    thumbnail: bytes | None = None


def _cover_crop(
    data: bytes, width: int, height: int, *, thumbnail: bool = False
) -> tuple[bytes, tuple[int, int], bytes | None]:
    thumb: bytes | None = None
    with Image.open(io.BytesIO(data)) as img:
        source = img.size
        mode = "RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB"
        # No conversion copy (50-65 MB at 4K) when the decoded image already has the mode.
        pixels = img if img.mode == mode else img.convert(mode)
        fitted = ImageOps.fit(pixels, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        out = io.BytesIO()
        fitted.save(out, format="PNG", optimize=False)
        if thumbnail:
            try:
                thumb = webp_thumbnail(fitted)  # the crop is not needed any more: scaled in place
            except (OSError, ValueError) as exc:  # never a reason to refuse the image
                log.warning("no thumbnail for a %dx%d crop: %s", width, height, exc)
    return out.getvalue(), source, thumb


def cover_crop(data: bytes, width: int, height: int) -> bytes:
    """Scale the image to cover `width` x `height` pixels (Lanczos), centre-crop the overflow
    and return it as PNG bytes. The aspect ratio is kept: nothing is stretched.

    Raises InvalidImageError when `data` does not decode.
    """
    try:
        return _cover_crop(data, width, height)[0]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"image bytes do not decode ({len(data)} bytes): {exc}") from exc


def resize_for_asset(data: bytes, width: int, height: int) -> ResizedImage:
    """`cover_crop`, the SHA-256 of its result and the result's WebP thumbnail in one call (one
    trip to the thread pool, one decode).

    Raises InvalidImageError when `data` does not decode.
    """
    try:
        png, (source_width, source_height), thumb = _cover_crop(data, width, height, thumbnail=True)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"image bytes do not decode ({len(data)} bytes): {exc}") from exc
    return ResizedImage(
        data=png, sha256=sha256_hex(png), source_width=source_width, source_height=source_height, thumbnail=thumb
    )

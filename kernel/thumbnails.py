"""Thumbnails: a WebP of at most 512 px on the long side, made from an already decoded image.

The grid of a gallery shows thumbnails and never the originals (a 4K PNG is tens of MB). The
caller decodes once and passes the decoded image here; nothing in this module decodes bytes.
CPU-bound and synchronous: callers run it in a thread (the worker's image pool, or the API's
`anyio.to_thread`), never on an event loop.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

THUMBNAIL_MAX_PX = 512
THUMBNAIL_MIME = "image/webp"
# WebP quality (0-100): 80 keeps a 512 px render at 20-60 KB with no visible banding.
THUMBNAIL_QUALITY = 80


def webp_thumbnail(img: Image.Image) -> bytes:
    """WebP bytes of `img` scaled to fit THUMBNAIL_MAX_PX x THUMBNAIL_MAX_PX (aspect ratio kept,
    never enlarged), turned upright per its EXIF orientation, RGB or RGBA (transparency kept).

    `img` must be loaded (decoded); it is changed in place (scaled down), so pass a copy if the
    full image is still needed. Raises OSError or ValueError when Pillow cannot convert or
    encode its mode.
    """
    if img.mode in ("P", "PA", "1", "LA", "La", "I", "I;16", "F"):
        # Palette and 1-bit images scale badly (nearest neighbour); wide modes cannot be WebP.
        has_alpha = img.mode in ("PA", "LA", "La") or (img.mode == "P" and "transparency" in img.info)
        if img.mode in ("I", "I;16", "F"):
            img = img.convert("I").point(lambda v: v / 256).convert("L")
        img = img.convert("RGBA" if has_alpha else "RGB")
    img.thumbnail((THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX), Image.Resampling.LANCZOS, reducing_gap=3.0)
    img = ImageOps.exif_transpose(img)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return out.getvalue()

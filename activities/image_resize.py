"""Enforce an asset type's exact output size with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageOps


def cover_crop(data: bytes, width: int, height: int) -> bytes:
    """Scale the image to cover `width` x `height` pixels (Lanczos), centre-crop the overflow
    and return it as PNG bytes. The aspect ratio is kept: nothing is stretched."""
    with Image.open(io.BytesIO(data)) as img:
        fitted = ImageOps.fit(img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB"), (width, height),
                              method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))  # fmt: skip
        out = io.BytesIO()
        fitted.save(out, format="PNG", optimize=False)
    return out.getvalue()

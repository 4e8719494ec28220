"""Synthetic, deterministic images for the emulator (Pillow).

The emulator never calls a model: it paints a gradient whose colours, a few shapes and a
"SYNTHETIC" label are all derived from a hash of a seed string (the prompt), so the same prompt
always yields byte-identical images and different prompts visibly differ.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SUPPORTED_MIME_TYPES: tuple[str, ...] = ("image/png", "image/jpeg")

_GRID = 3  # the gradient is a 3x3 grid of seeded colours, upscaled bilinearly
# Share of the rows of a "realistic" image covered with noise: noise does not compress (3 bytes
# per pixel) and the gradient nearly vanishes, so 0.4 gives about 1.2 bytes per pixel, the size
# of a real model's PNG (a 4K one, 5504x3072, is about 20 MB).
REALISTIC_NOISE_SHARE = 0.4


def _palette(digest: bytes, count: int, offset: int = 0) -> list[tuple[int, int, int]]:
    """Return `count` RGB colours taken from consecutive byte triples of `digest`."""
    colours = []
    for index in range(count):
        start = (offset + 3 * index) % (len(digest) - 2)
        red, green, blue = digest[start : start + 3]
        colours.append((red, green, blue))
    return colours


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels (bitmap fallback without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _paint(width: int, height: int, seed: str) -> Image.Image:
    """Paint the RGB picture for `seed` at `width` x `height` pixels."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    grid = Image.new("RGB", (_GRID, _GRID))
    grid.putdata(_palette(digest, _GRID * _GRID))
    image = grid.resize((width, height), Image.Resampling.BILINEAR)

    draw = ImageDraw.Draw(image)
    unit = max(1, min(width, height) // 8)
    for index, colour in enumerate(_palette(digest, 3, offset=7)):
        cx = width * (1 + 2 * index) // 6
        cy = height * (2 + digest[20 + index] % 5) // 8
        box = (cx - unit, cy - unit, cx + unit, cy + unit)
        if digest[24 + index] % 2:
            draw.ellipse(box, fill=colour, outline=(255, 255, 255), width=max(1, unit // 16))
        else:
            draw.rectangle(box, fill=colour, outline=(0, 0, 0), width=max(1, unit // 16))

    if min(width, height) >= 32:
        font = _font(max(8, height // 10))
        draw.text(
            (width // 2, height // 2),
            "SYNTHETIC",
            fill=(255, 255, 255),
            font=font,
            anchor="mm",
            stroke_width=max(1, height // 300),
            stroke_fill=(0, 0, 0),
        )
    return image


@lru_cache(maxsize=16)
def render_image(width: int, height: int, mime: str, seed: str) -> bytes:
    """Return the encoded bytes of a synthetic image of exactly `width` x `height` pixels.

    `mime` is "image/png" (fast zlib level 1) or "image/jpeg" (quality 85); the result is
    deterministic for (`width`, `height`, `mime`, `seed`) and cached (16 entries). A 1K image
    takes well under 0.3 s, a 4K one (5504x3072) about a second.
    Raises ValueError for a non-positive size or an unsupported mime type.
    """
    _check(width, height, mime)
    return _encode(_paint(width, height, seed), mime)


def _check(width: int, height: int, mime: str) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if mime not in SUPPORTED_MIME_TYPES:
        raise ValueError(f"unsupported mime type {mime!r}; expected one of {SUPPORTED_MIME_TYPES}")


def _encode(image: Image.Image, mime: str) -> bytes:
    """PNG at zlib level 1 (fast) or JPEG at quality 85."""
    buffer = io.BytesIO()
    if mime == "image/png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@lru_cache(maxsize=8)
def _realistic_base(width: int, height: int, mime: str) -> bytes:
    """A painted image whose lower rows are noise, encoded once per size (1.5 s at 4K)."""
    image = _paint(width, height, f"realistic {width}x{height}")
    band = min(height, max(1, round(height * REALISTIC_NOISE_SHARE)))
    noise = random.Random(f"{width}x{height}").randbytes(width * band * 3)
    image.paste(Image.frombytes("RGB", (width, band), noise), (0, height - band))
    return _encode(image, mime)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def realistic_image(width: int, height: int, mime: str, nonce: str) -> bytes:
    """Encoded bytes of `width` x `height` pixels at a real model's size (see
    REALISTIC_NOISE_SHARE: about 1.2 bytes per pixel as PNG, less as JPEG).

    The pixels are the same for every call of a size (encoded once and cached, so a call costs
    a copy, not an encode); `nonce` goes into a comment (a PNG tEXt chunk before IEND, a JPEG
    COM segment after SOI), so every call's bytes and checksum differ.
    Raises ValueError for a non-positive size or an unsupported mime type.
    """
    _check(width, height, mime)
    base = _realistic_base(width, height, mime)
    comment = nonce.encode("utf-8")[:60000]
    if mime == "image/png":
        iend = len(base) - 12  # the IEND chunk: length, type, no data, CRC
        return base[:iend] + _png_chunk(b"tEXt", b"Comment\x00" + comment) + base[iend:]
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + base[2:]

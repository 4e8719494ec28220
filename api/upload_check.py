"""Verify an uploaded file with Pillow: a real PNG, JPEG or WebP of the declared type, within
the pixel cap, fully decodable; its WebP thumbnail is made from the same decode.

CPU-bound and synchronous: the API calls it through `anyio.to_thread.run_sync`, never on the
event loop. At most two run at once per process (a 50 MP RGBA bitmap is 200 MB), whatever the
number of requests: the others wait in their threads.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from kernel.thumbnails import webp_thumbnail

log = logging.getLogger(__name__)

FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

_DECODES = threading.BoundedSemaphore(2)


class UploadRefused(Exception):
    """The file is not an image the studio accepts; the message says why, for the user."""


@dataclass(frozen=True)
class CheckedUpload:
    """A verified upload: mime type, size in pixels, SHA-256 (hex) of its bytes, and its WebP
    thumbnail (None when Pillow could not make one; the upload is still valid)."""

    mime: str
    width: int
    height: int
    sha256: str
    thumbnail: bytes | None


def check_upload(data: bytes, declared_mime: str, max_pixels: int) -> CheckedUpload:
    """Decode `data` once and check it. The pixel count comes from the header and is checked
    before anything is decoded, so a decompression bomb (a small file claiming a huge image)
    costs nothing; Pillow's own guard (`Image.MAX_IMAGE_PIXELS`) is refused the same way.

    Raises UploadRefused: not PNG/JPEG/WebP, another type than `declared_mime`, more than
    `max_pixels` pixels (width x height), or bytes that do not decode fully (truncated).
    """
    with _DECODES, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap decides
        try:
            with Image.open(io.BytesIO(data), formats=list(FORMAT_MIME)) as img:
                mime = FORMAT_MIME[img.format or ""]
                if mime != declared_mime:
                    raise UploadRefused(f"the file was declared {declared_mime} but is {mime}")
                width, height = img.size
                if width * height > max_pixels:
                    raise UploadRefused(_too_many(width, height, max_pixels))
                img.load()
                thumbnail = _thumbnail(img)
        except Image.DecompressionBombError as exc:
            raise UploadRefused(f"the image has too many pixels ({exc})") from None
        except UnidentifiedImageError:
            raise UploadRefused("the file is not a PNG, JPEG or WebP image") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise UploadRefused(f"the image does not decode: {exc}") from None
    return CheckedUpload(mime, width, height, hashlib.sha256(data).hexdigest(), thumbnail)


def _too_many(width: int, height: int, max_pixels: int) -> str:
    return f"the image is {width}x{height} = {width * height:,} pixels; at most {max_pixels:,} are accepted"


def _thumbnail(img: Image.Image) -> bytes | None:
    try:
        return webp_thumbnail(img)
    except (OSError, ValueError) as exc:
        log.warning("no thumbnail for an uploaded %dx%d %s image: %s", img.width, img.height, img.mode, exc)
        return None

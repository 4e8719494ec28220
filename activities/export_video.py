"""The MP4 slideshow: each image letterboxed to the video's size (never stretched), shown for
`seconds_per_image`, with an optional crossfade into the next, encoded H.264 (yuv420p) by PyAV,
whose wheels carry FFmpeg (no system FFmpeg). Synchronous: call it from the image thread pool.

Timing: every image holds `frames_per_image = round(seconds_per_image * fps)` frames; a
crossfade takes the last `round(crossfade_s * fps)` of them, blending into the next image, so
the video lasts `count * frames_per_image / fps` seconds with or without crossfades.
"""

from __future__ import annotations

import io
import threading
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageOps

from activities.image_check import InvalidImageError
from kernel.exports import mp4_frames_per_image

LETTERBOX = (0, 0, 0)


class SlideshowStopped(Exception):
    """`Slideshow.stop()` was called while a frame loop ran: the video is abandoned."""


def letterboxed(data: bytes, width: int, height: int) -> Image.Image:
    """The image in `data` scaled to fit `width` x `height` pixels with its aspect ratio kept,
    centred on black. Raises InvalidImageError when it does not decode."""
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.draft("RGB", (width, height))
            image = ImageOps.exif_transpose(source).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"image does not decode: {exc}") from exc
    return ImageOps.pad(image, (width, height), Image.Resampling.LANCZOS, color=LETTERBOX)


class Slideshow:
    """An MP4 file being written image by image at `path`.

    Not thread-safe (PyAV): one call at a time. The one exception is `stop()`, callable from
    any thread while `add` or `close` runs: the frame loop raises SlideshowStopped at the next
    frame, and the caller then waits for that call to end before `abort()`.
    """

    def __init__(self, path: Path, width: int, height: int, fps: int, seconds_per_image: float, crossfade_s: float):
        self.width, self.height, self.fps = width, height, fps
        self.frames_per_image = mp4_frames_per_image(seconds_per_image, fps)
        self.fade_frames = min(round(crossfade_s * fps), self.frames_per_image - 1)
        self._container = av.open(str(path), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "23", "preset": "veryfast"}
        self._held: Image.Image | None = None  # the previous image: its last frames wait for a fade
        self._stopped = threading.Event()
        self.frames = 0

    def stop(self) -> None:
        """Make the running (or next) `add`/`close` raise SlideshowStopped at its next frame."""
        self._stopped.set()

    def add(self, image: Image.Image) -> None:
        """Show `image` (already `width` x `height`) next: the previous image's remaining frames
        are written first, crossfading into this one when a crossfade is set."""
        if self._held is not None:
            self._emit(self._held, self.frames_per_image - self.fade_frames)
            for step in range(1, self.fade_frames + 1):
                self._check_stopped()
                self._emit(Image.blend(self._held, image, step / (self.fade_frames + 1)), 1)
        self._held = image

    def close(self) -> None:
        """Write the last image's frames, flush the encoder and close the file."""
        if self._held is not None:
            self._emit(self._held, self.frames_per_image)
            self._held = None
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        """Close the file without finishing it (the caller deletes it)."""
        self._container.close()

    def _emit(self, image: Image.Image, count: int) -> None:
        frame = av.VideoFrame.from_image(image)
        for _ in range(count):
            self._check_stopped()
            frame.pts = None
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames += 1

    def _check_stopped(self) -> None:
        if self._stopped.is_set():
            raise SlideshowStopped("the video was abandoned")

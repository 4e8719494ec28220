"""The contact sheet: thumbnails in a grid, each with a caption (task name, variation, state),
as one PNG. Pure Pillow, synchronous: call it from the image thread pool.

Geometry (pixels): each cell is `thumb_px + 2 * CELL_PADDING` wide and
`thumb_px + CAPTION_HEIGHT + 2 * CELL_PADDING` high; an image is scaled to fit `thumb_px`
square (never up), centred in its cell's image area; the caption sits below it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from activities.image_check import InvalidImageError

CELL_PADDING = 8
CAPTION_HEIGHT = 36
CAPTION_FONT_PX = 13
BACKGROUND = (255, 255, 255)
CAPTION_COLOUR = (40, 40, 40)


@dataclass(frozen=True)
class SheetLayout:
    """Columns and rows of the grid and the sheet's size in pixels."""

    columns: int
    rows: int
    cell_width: int
    cell_height: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet, pixels."""
        return self.columns * self.cell_width, self.rows * self.cell_height

    def origin(self, index: int) -> tuple[int, int]:
        """Top-left pixel of cell `index` (row-major)."""
        row, column = divmod(index, self.columns)
        return column * self.cell_width, row * self.cell_height


def layout(count: int, thumb_px: int, columns: int | None) -> SheetLayout:
    """The grid of `count` images: `columns` (default ceil(sqrt(count)), never more than
    `count`) and as many rows as needed. Raises ValueError for no images."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one image")
    cols = min(columns or math.ceil(math.sqrt(count)), count)
    return SheetLayout(
        columns=cols,
        rows=math.ceil(count / cols),
        cell_width=thumb_px + 2 * CELL_PADDING,
        cell_height=thumb_px + CAPTION_HEIGHT + 2 * CELL_PADDING,
    )


class ContactSheet:
    """A sheet being filled cell by cell; `png()` encodes it."""

    def __init__(self, grid: SheetLayout, thumb_px: int) -> None:
        self.grid = grid
        self.thumb_px = thumb_px
        self.image = Image.new("RGB", grid.size, BACKGROUND)
        self._draw = ImageDraw.Draw(self.image)
        self._font = ImageFont.load_default(size=CAPTION_FONT_PX)

    def place(self, index: int, data: bytes, caption: list[str]) -> None:
        """Put the image encoded in `data` and its caption lines in cell `index`. Raises
        InvalidImageError when `data` does not decode (there is no placeholder cell)."""
        x, y = self.grid.origin(index)
        left, top = x + CELL_PADDING, y + CELL_PADDING
        try:
            with Image.open(io.BytesIO(data)) as source:
                source.draft("RGB", (self.thumb_px, self.thumb_px))  # JPEG: decode at a fraction
                thumb = ImageOps.exif_transpose(source).convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidImageError(f"image does not decode: {exc}") from exc
        thumb.thumbnail((self.thumb_px, self.thumb_px), Image.Resampling.LANCZOS)
        self.image.paste(thumb, (left + (self.thumb_px - thumb.width) // 2, top + (self.thumb_px - thumb.height) // 2))
        text_top = top + self.thumb_px + 2
        for line_number, line in enumerate(caption[:2]):
            self._draw.text((left, text_top + line_number * (CAPTION_FONT_PX + 3)), _fit(line, self.thumb_px),
                            fill=CAPTION_COLOUR, font=self._font)  # fmt: skip

    def png(self) -> bytes:
        """The sheet as PNG bytes."""
        out = io.BytesIO()
        self.image.save(out, format="PNG", optimize=False, compress_level=6)
        return out.getvalue()


def _fit(text: str, width_px: int) -> str:
    """`text` cut (with an ellipsis) to about `width_px` pixels of the caption font."""
    limit = max(4, width_px // 7)
    return text if len(text) <= limit else text[: limit - 1] + "…"

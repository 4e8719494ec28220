"""The Gemini image models Render Studio supports and their parameters.

Source: Google's Gemini image-generation docs ("Aspect ratios and image size" tables), as
summarised in shared/GEMINI.md. These facts are used by the API (validation), the activities
(expected dimensions) and the emulator (what it renders), so they live in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelName = Literal["gemini-3-pro-image-preview", "gemini-2.5-flash-image"]
AspectRatio = Literal["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
ImageSize = Literal["1K", "2K", "4K"]

DEFAULT_MODEL: ModelName = "gemini-3-pro-image-preview"
ASPECT_RATIOS: tuple[str, ...] = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES: tuple[str, ...] = ("1K", "2K", "4K")
SIZE_FACTOR: dict[str, int] = {"1K": 1, "2K": 2, "4K": 4}


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts and what it returns.

    `base_sizes` maps an aspect ratio to the (width, height) in pixels of a 1K image;
    2K and 4K images are those sizes times 2 and 4 (3 Pro only).
    """

    name: str
    supports_image_size: bool
    max_reference_images: int
    base_sizes: dict[str, tuple[int, int]]


MODELS: dict[str, ModelSpec] = {
    "gemini-3-pro-image-preview": ModelSpec(
        name="gemini-3-pro-image-preview",
        supports_image_size=True,
        max_reference_images=14,
        base_sizes={
            "1:1": (1024, 1024),
            "2:3": (848, 1264),
            "3:2": (1264, 848),
            "3:4": (896, 1200),
            "4:3": (1200, 896),
            "4:5": (928, 1152),
            "5:4": (1152, 928),
            "9:16": (768, 1376),
            "16:9": (1376, 768),
            "21:9": (1584, 672),
        },
    ),
    "gemini-2.5-flash-image": ModelSpec(
        name="gemini-2.5-flash-image",
        supports_image_size=False,
        max_reference_images=3,
        base_sizes={
            "1:1": (1024, 1024),
            "2:3": (832, 1248),
            "3:2": (1248, 832),
            "3:4": (864, 1184),
            "4:3": (1184, 864),
            "4:5": (896, 1152),
            "5:4": (1152, 896),
            "9:16": (768, 1344),
            "16:9": (1344, 768),
            "21:9": (1536, 672),
        },
    ),
}


def expected_dimensions(model: str, aspect_ratio: str, image_size: str | None) -> tuple[int, int]:
    """Return the (width, height) in pixels the model delivers for these parameters.

    Raises KeyError for an unknown model or aspect ratio.
    """
    spec = MODELS[model]
    width, height = spec.base_sizes[aspect_ratio]
    factor = SIZE_FACTOR[image_size or "1K"] if spec.supports_image_size else 1
    return width * factor, height * factor

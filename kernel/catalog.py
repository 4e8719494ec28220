"""The Gemini image models Render Studio accepts, their parameters and prices, from data.

The catalogue is `kernel/models.yaml` (shipped with the package), or the file named by the
MODEL_CATALOG_FILE environment variable, read once at import: ops add a model id or change a
price without a code change (Google renames preview ids and changes prices). The facts are used
by the API (validation, `GET /models`, cost estimates), the activities (expected dimensions,
recorded cost) and the emulator (what it renders), so they live in exactly one place.

Sources are in the data file: sizes from Google's image-generation docs, prices from Google's
pricing page (integer micro-dollars per image; 1 USD = 1,000,000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

PACKAGED_CATALOG = Path(__file__).with_name("models.yaml")
CATALOG_ENV = "MODEL_CATALOG_FILE"

RenderModeName = Literal["standard", "batch"]


class _ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_sizes: list[str] = Field(default_factory=list)
    max_reference_images: int = Field(ge=0)
    batch: bool = False
    sizes_1k: dict[str, tuple[PositiveInt, PositiveInt]] = Field(min_length=1)
    price_micro_usd: dict[RenderModeName, dict[str, int]]

    @model_validator(mode="after")
    def _priced(self) -> _ModelEntry:
        if "standard" not in self.price_micro_usd:
            raise ValueError("a model needs a standard price")
        if self.batch and "batch" not in self.price_micro_usd:
            raise ValueError("a batch-capable model needs a batch price")
        for mode, prices in self.price_micro_usd.items():
            missing = [size for size in self.image_sizes or ["1K"] if size not in prices]
            if missing:
                raise ValueError(f"no {mode} price for image sizes {missing}")
            if any(price < 0 for price in prices.values()):
                raise ValueError("prices are non-negative micro-dollars")
        return self


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices_as_of: str
    prices_source: str
    default_model: str
    image_size_factors: dict[str, float]
    models: dict[str, _ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> _CatalogFile:
        if self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        for name, entry in self.models.items():
            unknown = [size for size in entry.image_sizes if size not in self.image_size_factors]
            if unknown:
                raise ValueError(f"{name}: image sizes {unknown} have no factor in image_size_factors")
        return self


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, what it returns and what an image costs.

    `base_sizes` maps an aspect ratio to the (width, height) in pixels of a 1K image; an
    `image_size` multiplies both by its factor. `prices` maps mode ("standard" | "batch") to
    image size to integer micro-dollars per delivered image (no image sizes: the "1K" price)."""

    name: str
    image_sizes: tuple[str, ...]
    max_reference_images: int
    supports_batch: bool
    base_sizes: dict[str, tuple[int, int]]
    prices: dict[str, dict[str, int]]

    @property
    def supports_image_size(self) -> bool:
        """Whether the model takes an `image_size` parameter (Gemini rejects it otherwise)."""
        return bool(self.image_sizes)

    @property
    def aspect_ratios(self) -> tuple[str, ...]:
        """The aspect ratios the model renders, in catalogue order."""
        return tuple(self.base_sizes)


def load_catalog(path: Path) -> tuple[_CatalogFile, dict[str, ModelSpec]]:
    """Read and check a catalogue file. Raises ValueError (pydantic's ValidationError) naming
    the bad entry, OSError when it cannot be read."""
    raw = _CatalogFile.model_validate(yaml.safe_load(path.read_text()))
    specs = {
        name: ModelSpec(
            name=name,
            image_sizes=tuple(entry.image_sizes),
            max_reference_images=entry.max_reference_images,
            supports_batch=entry.batch,
            base_sizes={ratio: (w, h) for ratio, (w, h) in entry.sizes_1k.items()},
            prices={mode: dict(prices) for mode, prices in entry.price_micro_usd.items()},
        )
        for name, entry in raw.models.items()
    }
    return raw, specs


CATALOG_FILE = Path(os.environ.get(CATALOG_ENV) or PACKAGED_CATALOG)
_RAW, MODELS = load_catalog(CATALOG_FILE)

DEFAULT_MODEL: str = _RAW.default_model
PRICES_AS_OF: str = _RAW.prices_as_of
PRICES_SOURCE: str = _RAW.prices_source
SIZE_FACTOR: dict[str, float] = dict(_RAW.image_size_factors)
# Every aspect ratio / image size some model accepts, in catalogue order.
ASPECT_RATIOS: tuple[str, ...] = tuple(dict.fromkeys(r for spec in MODELS.values() for r in spec.aspect_ratios))
IMAGE_SIZES: tuple[str, ...] = tuple(dict.fromkeys(s for spec in MODELS.values() for s in spec.image_sizes))


def expected_dimensions(model: str, aspect_ratio: str, image_size: str | None) -> tuple[int, int]:
    """Return the (width, height) in pixels the model delivers for these parameters.

    Raises KeyError for an unknown model or aspect ratio.
    """
    spec = MODELS[model]
    width, height = spec.base_sizes[aspect_ratio]
    factor = SIZE_FACTOR[image_size or spec.image_sizes[0]] if spec.supports_image_size else 1
    return round(width * factor), round(height * factor)


def image_price_micro_usd(model: str, image_size: str | None, mode: str = "standard") -> int:
    """Price of one delivered image in integer micro-dollars (catalogue data, Google's pricing
    page). Raises KeyError for an unknown model, or a mode or size the model has no price for."""
    spec = MODELS[model]
    size = (image_size or spec.image_sizes[0]) if spec.supports_image_size else "1K"
    return spec.prices[mode][size]

"""Asset types loaded from `asset_types.yaml` (shipped with the package)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from kernel.catalog import ASPECT_RATIOS

SOURCE = Path(__file__).with_name("asset_types.yaml")


class AssetType(BaseModel):
    """One asset type. `width`/`height` (pixels) are the delivered size; None keeps the model's."""

    name: str
    description: str
    aspect_ratio: str | None
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    template: str
    quality: list[str] = Field(default_factory=list)

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(width, height) enforced after generation, or None."""
        return (self.width, self.height) if self.width and self.height else None


@lru_cache
def asset_types() -> dict[str, AssetType]:
    """Every asset type by name. Raises ValueError when the YAML names an unknown aspect ratio."""
    raw = yaml.safe_load(SOURCE.read_text())
    types = {name: AssetType(name=name, **spec) for name, spec in raw.items()}
    for t in types.values():
        if t.aspect_ratio is not None and t.aspect_ratio not in ASPECT_RATIOS:
            raise ValueError(f"asset type {t.name}: unknown aspect ratio {t.aspect_ratio}")
    return types

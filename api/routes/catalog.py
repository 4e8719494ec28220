"""What can be rendered: the supported models and the asset types (public, no auth needed)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kernel.catalog import MODELS, PRICES_AS_OF, PRICES_SOURCE, expected_dimensions
from kernel.prompts.asset_types import AssetType, asset_types

router = APIRouter(tags=["catalog"])


class ModelPublic(BaseModel):
    """A supported Gemini image model: the parameters it accepts and what an image costs.

    From the model catalogue (kernel/models.yaml or MODEL_CATALOG_FILE): sizes from Google's
    image-generation docs, prices from Google's pricing page as of `prices_as_of`."""

    name: str
    aspect_ratios: list[str]
    image_sizes: list[str]
    max_reference_images: int
    sizes_1k: dict[str, tuple[int, int]]
    batch: bool
    price_micro_usd: dict[str, dict[str, int]] = Field(
        description="mode -> image size -> integer micro-dollars per delivered image (1 USD = 1,000,000)"
    )
    prices_as_of: str
    prices_source: str


class AssetTypePublic(BaseModel):
    """An asset type: the aspect ratio sent to the model and the delivered size in pixels."""

    name: str
    description: str
    aspect_ratio: str | None
    width: int | None
    height: int | None
    quality: list[str]


@router.get("/models", response_model=list[ModelPublic])
async def list_models() -> list[ModelPublic]:
    """Supported models: aspect ratios, image sizes, reference-image limits, batch support and
    prices, as the catalogue file says (ops extend it without a code change)."""
    return [
        ModelPublic(
            name=spec.name,
            aspect_ratios=list(spec.aspect_ratios),
            image_sizes=list(spec.image_sizes),
            max_reference_images=spec.max_reference_images,
            sizes_1k={ratio: expected_dimensions(spec.name, ratio, None) for ratio in spec.aspect_ratios},
            batch=spec.supports_batch,
            price_micro_usd=spec.prices,
            prices_as_of=PRICES_AS_OF,
            prices_source=PRICES_SOURCE,
        )
        for spec in MODELS.values()
    ]


def _public(kind: AssetType) -> AssetTypePublic:
    return AssetTypePublic(**kind.model_dump(exclude={"template"}))


@router.get("/asset-types", response_model=list[AssetTypePublic])
async def list_asset_types() -> list[AssetTypePublic]:
    """Asset types with their exact output sizes (the image is resized and cropped to them)."""
    return [_public(kind) for kind in asset_types().values()]

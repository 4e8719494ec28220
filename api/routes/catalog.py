"""What can be rendered: the supported models and the asset types (public, no auth needed)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from kernel.catalog import ASPECT_RATIOS, IMAGE_SIZES, MODELS, expected_dimensions
from kernel.prompts.asset_types import AssetType, asset_types

router = APIRouter(tags=["catalog"])


class ModelPublic(BaseModel):
    """A supported Gemini image model and the parameters it accepts (Google's model docs)."""

    name: str
    aspect_ratios: list[str]
    image_sizes: list[str]
    max_reference_images: int
    sizes_1k: dict[str, tuple[int, int]]


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
    """Supported models, their aspect ratios, image sizes (3 Pro only) and reference-image limits."""
    return [
        ModelPublic(
            name=spec.name,
            aspect_ratios=list(ASPECT_RATIOS),
            image_sizes=list(IMAGE_SIZES) if spec.supports_image_size else [],
            max_reference_images=spec.max_reference_images,
            sizes_1k={ratio: expected_dimensions(spec.name, ratio, None) for ratio in ASPECT_RATIOS},
        )
        for spec in MODELS.values()
    ]


def _public(kind: AssetType) -> AssetTypePublic:
    return AssetTypePublic(**kind.model_dump(exclude={"template"}))


@router.get("/asset-types", response_model=list[AssetTypePublic])
async def list_asset_types() -> list[AssetTypePublic]:
    """Asset types with their exact output sizes (the image is resized and cropped to them)."""
    return [_public(kind) for kind in asset_types().values()]

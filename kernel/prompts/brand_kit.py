"""A project's brand kit and the prompt clauses it becomes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.user_text import sanitize_user_text

Keyword = Field(min_length=1, max_length=60)


class BrandKit(BaseModel):
    """Colours (#rrggbb), fonts, tone, style keywords and negative keywords of a project."""

    model_config = ConfigDict(extra="forbid")

    colors: list[str] = Field(default_factory=list, max_length=10)
    fonts: list[str] = Field(default_factory=list, max_length=5)
    tone: str | None = Field(None, max_length=100)
    style_keywords: list[str] = Field(default_factory=list, max_length=20)
    negative_keywords: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("colors")
    @classmethod
    def _hex_colours(cls, colors: list[str]) -> list[str]:
        for color in colors:
            if len(color) != 7 or color[0] != "#" or any(c not in "0123456789abcdefABCDEF" for c in color[1:]):
                raise ValueError(f"colour {color!r} is not #rrggbb")
        return [c.lower() for c in colors]

    @field_validator("fonts", "style_keywords", "negative_keywords")
    @classmethod
    def _clean_words(cls, words: list[str]) -> list[str]:
        cleaned = [sanitize_user_text(w).replace("\n", " ")[:60] for w in words]
        if any(not w for w in cleaned):
            raise ValueError("keywords must have visible text")
        return cleaned

    @field_validator("tone")
    @classmethod
    def _clean_tone(cls, tone: str | None) -> str | None:
        return sanitize_user_text(tone).replace("\n", " ") or None if tone is not None else None


def brand_clause(kit: BrandKit | None) -> str:
    """' Brand: colour palette #aa0000, #00bb00; typography like Inter; tone: playful; style:
    flat, vector.' or '' when the kit is empty."""
    if kit is None:
        return ""
    parts = []
    if kit.colors:
        parts.append("colour palette " + ", ".join(kit.colors))
    if kit.fonts:
        parts.append("typography like " + ", ".join(kit.fonts))
    if kit.tone:
        parts.append(f"tone: {kit.tone}")
    if kit.style_keywords:
        parts.append("style: " + ", ".join(kit.style_keywords))
    return f" Brand: {'; '.join(parts)}." if parts else ""


def avoid_clause(kit: BrandKit | None) -> str:
    """' Avoid: gradients, photorealism.' or ''."""
    if kit is None or not kit.negative_keywords:
        return ""
    return f" Avoid: {', '.join(kit.negative_keywords)}."

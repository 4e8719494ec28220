"""Render the final prompt: asset-type template + sanitised user text + brand kit + quality."""

from __future__ import annotations

from string import Template

from kernel.prompts.asset_types import AssetType
from kernel.prompts.brand_kit import BrandKit, avoid_clause, brand_clause
from kernel.user_text import sanitize_user_text

MAX_SUBJECT_CHARS = 2000


def subject_text(user_text: str) -> str:
    """The user's text as it enters the prompt: sanitised, capped at 2000 characters, with no
    trailing full stop (the template supplies punctuation)."""
    return sanitize_user_text(user_text)[:MAX_SUBJECT_CHARS].rstrip(" .")


def render_prompt(asset_type: AssetType, user_text: str, kit: BrandKit | None) -> str:
    """The prompt sent to Gemini. Placeholders are substituted in one pass, so `$brand` or
    `${subject}` typed by a user stays literal text and cannot pull in other values."""
    prompt = Template(asset_type.template).substitute(
        subject=subject_text(user_text), brand=brand_clause(kit), avoid=avoid_clause(kit)
    )
    if asset_type.quality:
        prompt += " Quality: " + ", ".join(asset_type.quality) + "."
    return prompt.strip()

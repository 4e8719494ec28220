"""Strict parsing of a generateContent request body, as Gemini's image models check it.

Accepted keys follow GEMINI.md: camelCase or snake_case for generationConfig, imageConfig,
responseModalities, aspectRatio, imageSize, inlineData and mimeType; inline `data` in the
standard or URL-safe base64 alphabet, with or without padding (google-genai sends URL-safe).
Model limits (aspect ratios, imageSize support, reference image count) come from
`kernel.catalog.MODELS`. Every failure raises `GeminiError` 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from kernel.catalog import IMAGE_SIZES, MODELS

from .error_bodies import invalid_argument

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_TO_STANDARD = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class ImageRequest:
    """A validated request: `prompt` is all text parts joined by newlines; `aspect_ratio` and
    `image_size` are None when not sent; `reference_images` counts the inline images."""

    model: str
    prompt: str
    aspect_ratio: str | None
    image_size: str | None
    reference_images: int


def decode_base64(data: object) -> bytes:
    """Decode standard or URL-safe base64, padded or not. Raises ValueError if invalid."""
    if not isinstance(data, str) or not _BASE64.fullmatch(data):
        raise ValueError("not base64")
    bare = data.rstrip("=")
    if len(bare) % 4 == 1 or (len(bare) != len(data) and len(data) % 4):
        raise ValueError("bad base64 length or padding")
    standard = bare.translate(_TO_STANDARD)
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(str(exc)) from exc


def _get(mapping: dict[str, Any], camel: str, snake: str) -> Any:
    """Value under the camelCase key, else the snake_case one, else None."""
    return mapping[camel] if camel in mapping else mapping.get(snake)


def prompt_text(body: object) -> str:
    """Best-effort prompt (text parts joined by newlines) of any body; never raises."""
    texts: list[str] = []
    contents = body.get("contents") if isinstance(body, dict) else None
    for content in contents if isinstance(contents, list) else []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _check_inline_image(part: dict[str, Any], where: str) -> None:
    """Validate one inline image part (mime type, base64, decodable image)."""
    inline = _get(part, "inlineData", "inline_data")
    if not isinstance(inline, dict):
        raise invalid_argument(f"Invalid value at '{where}.inline_data': expected an object.")
    mime = _get(inline, "mimeType", "mime_type")
    if not isinstance(mime, str) or not mime.startswith("image/"):
        raise invalid_argument(f"Invalid mime type at '{where}.inline_data': {mime!r}.")
    try:
        raw = decode_base64(inline.get("data"))
    except ValueError:
        raise invalid_argument(
            f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed."
        ) from None
    try:
        Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError):
        raise invalid_argument(
            f"Unable to process input image at '{where}'. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        ) from None


def _walk_contents(body: dict[str, Any]) -> int:
    """Validate `contents`; return how many inline images it holds."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid_argument("* GenerateContentRequest.contents: contents is not specified")
    images = 0
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise invalid_argument(f"* GenerateContentRequest.contents[{i}].parts: must not be empty")
        for j, part in enumerate(parts):
            where = f"contents[{i}].parts[{j}]"
            if not isinstance(part, dict):
                raise invalid_argument(f"Invalid value at '{where}': expected an object.")
            if "text" in part and not isinstance(part["text"], str):
                raise invalid_argument(f"Invalid value at '{where}.text': expected a string.")
            if "fileData" in part or "file_data" in part:
                raise invalid_argument(f"'{where}.file_data' is not supported by the emulator.")
            if "inlineData" in part or "inline_data" in part:
                _check_inline_image(part, where)
                images += 1
    return images


def _config(body: dict[str, Any], camel: str, snake: str, where: str) -> dict[str, Any]:
    value = _get(body, camel, snake)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_argument(f"Invalid value at '{where}': expected an object.")
    return value


def parse_request(model: str, body: object) -> ImageRequest:
    """Validate a generateContent body for `model` (a key of MODELS).

    Raises GeminiError 400 INVALID_ARGUMENT naming the offending field.
    """
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    spec = MODELS[model]
    references = _walk_contents(body)
    prompt = prompt_text(body)
    if not prompt.strip():
        raise invalid_argument("contents must contain at least one non-empty text part.")
    if references > spec.max_reference_images:
        raise invalid_argument(
            f"Too many input images: {references}; {model} accepts at most {spec.max_reference_images}."
        )

    generation = _config(body, "generationConfig", "generation_config", "generation_config")
    modalities = _get(generation, "responseModalities", "response_modalities")
    if not isinstance(modalities, list) or "IMAGE" not in modalities:
        raise invalid_argument(
            f"generation_config.response_modalities must include IMAGE for {model}; got {modalities!r}."
        )
    count = _get(generation, "candidateCount", "candidate_count")
    if count not in (None, 1):
        raise invalid_argument(f"Multiple candidates is not enabled for models/{model}.")

    image = _config(generation, "imageConfig", "image_config", "generation_config.image_config")
    ratio = _get(image, "aspectRatio", "aspect_ratio")
    if ratio is not None and (not isinstance(ratio, str) or ratio not in spec.base_sizes):
        raise invalid_argument(
            f"Unsupported aspect ratio {ratio!r} for {model}; supported: {', '.join(spec.base_sizes)}."
        )
    size = _get(image, "imageSize", "image_size")
    if size is not None and not spec.supports_image_size:
        raise invalid_argument(f"image_size is not supported for {model}; leave it out.")
    if size is not None and size not in IMAGE_SIZES:
        raise invalid_argument(f"Invalid image_size {size!r}; use one of {', '.join(IMAGE_SIZES)} (uppercase K).")
    return ImageRequest(model, prompt, ratio, size, references)

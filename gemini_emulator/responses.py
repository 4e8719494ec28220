"""HTTP 200 response bodies of generateContent: success, blocks and "no image".

Shapes follow /work/shared/GEMINI.md (Google's docs plus real google-genai traffic). Images are
standard base64 under `inlineData.data` with `mimeType`; Gemini 3 Pro "thinks", so its success
body starts with a thought text and one or two interim thought images. Token counts are
plausible approximations (1120 output tokens per 1K/2K image, 2000 per 4K on 3 Pro, 1290 on
flash, 258 per input image), not Google's exact accounting.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any, Literal

from kernel.catalog import expected_dimensions

from .images import realistic_image, render_image
from .validation import ImageRequest

THINKING_MODELS = frozenset({"gemini-3-pro-image-preview"})  # GEMINI.md: 3 Pro always thinks
THOUGHT_IMAGE_SIZE = (64, 64)  # pixels; interim thought images are small previews

Corruption = Literal["bad_base64", "not_image"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _envelope(request: ImageRequest, body: dict[str, Any]) -> dict[str, Any]:
    body["modelVersion"] = request.model
    body["responseId"] = secrets.token_urlsafe(16)
    return body


def _prompt_tokens(request: ImageRequest) -> int:
    return max(1, len(request.prompt) // 4) + 258 * request.reference_images


def _usage(request: ImageRequest, candidates: int, thoughts: int) -> dict[str, int]:
    prompt = _prompt_tokens(request)
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = prompt + candidates + thoughts
    return usage


def final_dimensions(request: ImageRequest) -> tuple[int, int]:
    """(width, height) in pixels of the delivered image, from kernel.catalog."""
    return expected_dimensions(request.model, request.aspect_ratio or "1:1", request.image_size)


def success_body(
    request: ImageRequest,
    mime: str = "image/png",
    corrupt: Corruption | None = None,
    realistic: bool = False,
) -> dict[str, Any]:
    """The full success body: [thought parts (3 Pro)], a text part, then the final image part.

    The final image is `final_dimensions(request)` pixels, encoded as `mime`, seeded by the
    prompt plus a per-call nonce: like the real model, every call draws a new image, so the
    variations of a task differ. `corrupt="bad_base64"` truncates its base64 to an undecodable length;
    `corrupt="not_image"` replaces its bytes with b"hello". CPU-bound (up to ~1 s for 4K).
    `realistic=True` sends a real model's number of bytes instead (`images.realistic_image`:
    about 20 MB at 4K, the same pixels for every call of a size, bytes differing per call).
    """
    width, height = final_dimensions(request)
    nonce = f"{request.prompt}#{secrets.token_hex(8)}"
    raw = realistic_image(width, height, mime, nonce) if realistic else render_image(width, height, mime, nonce)
    data = _b64(raw)
    if corrupt == "bad_base64":
        data = data[: max(4, len(data) // 2) // 4 * 4 + 1]  # 4k+1 chars is never valid base64
    elif corrupt == "not_image":
        data = _b64(b"hello")

    parts: list[dict[str, Any]] = []
    thinking = request.model in THINKING_MODELS
    if thinking:
        digest = hashlib.sha256(request.prompt.encode("utf-8")).digest()
        parts.append({"text": "Planning the composition, palette and lighting...", "thought": True})
        for index in range(1 + digest[0] % 2):
            thumb = render_image(*THOUGHT_IMAGE_SIZE, "image/png", f"{request.prompt}#thought{index}")
            parts.append({"inlineData": {"mimeType": "image/png", "data": _b64(thumb)}, "thought": True})
    parts.append({"text": "Here is your image."})
    final: dict[str, Any] = {"inlineData": {"mimeType": mime, "data": data}}
    if thinking:
        final["thoughtSignature"] = _b64(hashlib.sha256(b"sig:" + data[:64].encode()).digest())
    parts.append(final)

    image_tokens = 2000 if request.image_size == "4K" else 1120
    if not thinking:
        image_tokens = 1290
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    usage = _usage(request, image_tokens + 10, 180 if thinking else 0)
    return _envelope(request, {"candidates": [candidate], "usageMetadata": usage})


def prompt_block_body(request: ImageRequest, reason: str) -> dict[str, Any]:
    """No candidates; `promptFeedback.blockReason = reason`."""
    prompt = _prompt_tokens(request)
    usage = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    return _envelope(request, {"promptFeedback": {"blockReason": reason}, "usageMetadata": usage})


def text_only_body(
    request: ImageRequest,
    finish_reason: str,
    content: Literal["text", "empty", "absent"] = "text",
    text: str = "I can't generate an image for this request. Try rephrasing the prompt.",
) -> dict[str, Any]:
    """One candidate without any image: finishReason `finish_reason` and a content that is a
    single text part ("text"), has no parts ("empty") or is left out ("absent")."""
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if content == "text":
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    elif content == "empty":
        candidate["content"] = {"role": "model", "parts": []}
    usage = _usage(request, 20 if content == "text" else 0, 0)
    return _envelope(request, {"candidates": [candidate], "usageMetadata": usage})

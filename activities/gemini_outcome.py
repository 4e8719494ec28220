"""Turn Gemini answers and errors into an image or an `ApplicationError` with our taxonomy.

Wire facts (shared/GEMINI.md, Google's generateContent docs): blocks arrive as HTTP 200 with
`promptFeedback.blockReason` or a safety `finishReason`; 429 bodies carry
`google.rpc.RetryInfo.retryDelay` and a `QuotaFailure` whose quotaId says PerDay for daily caps;
Gemini 3 Pro returns interim `thought` images before the delivered one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from google.genai import errors, types
from temporalio.exceptions import ApplicationError

from kernel import failure_codes

BLOCK_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
        "BLOCKLIST",
        "SPII",
    }
)
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)s\s*$")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class DeliveredImage:
    """The last non-thought image part of a response, with the response's metadata."""

    data: bytes
    mime: str
    model_version: str | None
    response_id: str | None
    usage: dict[str, Any]


def _name(value: Any) -> str:
    """Enum or string -> its wire name ("IMAGE_SAFETY")."""
    return str(getattr(value, "value", value) or "")


def _error_details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    inner = body.get("error", body)
    details = inner.get("details", []) if isinstance(inner, dict) else []
    return [d for d in details if isinstance(d, dict)]


def retry_delay_s(exc: errors.APIError) -> float | None:
    """`RetryInfo.retryDelay` of an error body in seconds ("47s" -> 47.0), or None."""
    for detail in _error_details(exc):
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _quota_ids(exc: errors.APIError) -> list[str]:
    """The quotaId of every QuotaFailure violation of an error body, in order."""
    ids = []
    for detail in _error_details(exc):
        if detail.get("@type", "").endswith("google.rpc.QuotaFailure"):
            violations = detail.get("violations", [])
            for violation in violations if isinstance(violations, list) else []:
                if isinstance(violation, dict) and violation.get("quotaId"):
                    ids.append(str(violation["quotaId"]))
    return ids


def is_daily_quota(exc: errors.APIError) -> bool:
    """True when a QuotaFailure violation names a per-day quota."""
    return any("PerDay" in quota_id for quota_id in _quota_ids(exc))


def quota_id(exc: errors.APIError) -> str:
    """The quotaId a 429 names ("GenerateRequestsPerMinutePerProjectPerModel"): its per-day one
    when it names several, else the first; "unknown" without a QuotaFailure. It becomes a metric
    label: characters other than letters, digits and `_.-` become `_`, and it is cut to 100."""
    ids = _quota_ids(exc)
    chosen = next((i for i in ids if "PerDay" in i), ids[0] if ids else "unknown")
    return _LABEL_UNSAFE.sub("_", chosen)[:100]


def quota_id_of(err: ApplicationError) -> str:
    """The quotaId `classify_api_error` put in the details of a 429's ApplicationError, or
    "unknown"."""
    if err.details and isinstance(err.details[0], dict):
        return str(err.details[0].get("quota_id", "unknown"))
    return "unknown"


def classify_api_error(exc: errors.APIError) -> ApplicationError:
    """Map an HTTP error from google-genai to an ApplicationError (retryable per DESIGN.md).
    A 429's details are `[{"quota_id": <its quotaId>}]`."""
    code = int(exc.code or 0)
    text = f"Gemini HTTP {code} {exc.status}: {exc.message}"
    if code == 429:
        # The quotaId travels in the details (`quota_id_of`) to the pacer's 429 count.
        quota = {"quota_id": quota_id(exc)}
        if is_daily_quota(exc):
            return ApplicationError(text, quota, type=failure_codes.QUOTA_EXHAUSTED, non_retryable=True)
        delay = retry_delay_s(exc)
        return ApplicationError(
            text,
            quota,
            type=failure_codes.RATE_LIMITED,
            next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
        )
    if code in RETRYABLE_HTTP:
        return ApplicationError(text, type=failure_codes.MODEL_UNAVAILABLE)
    return ApplicationError(text, type=failure_codes.INVALID_REQUEST, non_retryable=True)


def classify_transport_error(exc: Exception) -> ApplicationError:
    """Connection errors and client-side timeouts (httpx or aiohttp: google-genai uses aiohttp
    for async calls when it is installed): the model is unavailable, retry."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException | TimeoutError) else "unreachable"
    return ApplicationError(f"Gemini {kind}: {type(exc).__name__}: {exc}", type=failure_codes.MODEL_UNAVAILABLE)


def delivered_image(response: types.GenerateContentResponse, *, last_attempt: bool) -> DeliveredImage:
    """The image the model delivered, or raise the ApplicationError that explains why not.

    Blocks are never retried. No image (NO_IMAGE, IMAGE_OTHER, text only) is retried until
    `last_attempt`, then fails for good.
    """
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _name(feedback.block_reason)
        message = f"prompt blocked by the model: blockReason={reason}"
        if feedback.block_reason_message:
            message += f" ({feedback.block_reason_message})"
        raise ApplicationError(message, {"reason": reason}, type=failure_codes.CONTENT_BLOCKED, non_retryable=True)
    candidates = response.candidates or []
    if not candidates:
        raise ApplicationError("model returned no candidates", type=failure_codes.NO_IMAGE, non_retryable=last_attempt)
    candidate = candidates[0]
    finish = _name(candidate.finish_reason)
    parts = (candidate.content.parts if candidate.content else None) or []
    texts = [p.text for p in parts if p.text and not p.thought]
    if finish in BLOCK_FINISH_REASONS:
        message = f"image blocked by the model: finishReason={finish}"
        if texts:
            message += f": {' '.join(texts)[:300]}"
        raise ApplicationError(message, {"reason": finish}, type=failure_codes.CONTENT_BLOCKED, non_retryable=True)
    images = [p for p in parts if p.inline_data is not None and p.inline_data.data and not p.thought]
    if not images:
        said = f"; model said: {' '.join(texts)[:300]}" if texts else ""
        raise ApplicationError(
            f"model returned no image (finishReason={finish or 'none'}){said}",
            {"reason": finish},
            type=failure_codes.NO_IMAGE,
            non_retryable=last_attempt,
        )
    blob = images[-1].inline_data
    assert blob is not None and blob.data is not None  # filtered above; narrows for mypy
    usage = response.usage_metadata.model_dump(exclude_none=True, mode="json") if response.usage_metadata else {}
    return DeliveredImage(
        data=blob.data,
        mime=blob.mime_type or "",
        model_version=response.model_version,
        response_id=response.response_id,
        usage=usage,
    )

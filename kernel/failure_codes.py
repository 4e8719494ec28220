"""The failure taxonomy: ApplicationError types raised by activities and the API's `error.code`.

An activity raises `ApplicationError(message, type=<type>)`; the workflow keeps the type; the API
reports `error: {code, message}` with the code below. No silent fallback: every failed variation
and every failed task carries one of these.
"""

from __future__ import annotations

CONTENT_BLOCKED = "ContentBlocked"  # prompt block or image safety finish reason; never retried
QUOTA_EXHAUSTED = "QuotaExhausted"  # per-day quota; waiting minutes will not help
QUOTA_PAUSED = "QuotaPaused"  # per-day quota hit: the model queue is paused until the reset
RATE_LIMITED = "RateLimited"  # 429 per-minute: retried after RetryInfo.retryDelay
MODEL_UNAVAILABLE = "ModelUnavailable"  # 408/5xx/connection errors/timeouts: retried with backoff
NO_IMAGE = "NoImage"  # NO_IMAGE, IMAGE_OTHER or a text-only answer: a few retries, then fail
INVALID_IMAGE = "InvalidImage"  # bytes that do not decode or do not match their mime type
INVALID_REQUEST = "InvalidRequest"  # other 4xx from the model: our request is wrong; never retried
STORAGE_UNAVAILABLE = "StorageUnavailable"  # S3 failed; retried
TIMED_OUT = "TimedOut"  # the task's deadline passed while retrying
INTERNAL = "Internal"  # anything unexpected
BATCH_EXPIRED = "BatchExpired"  # the Gemini batch job expired (48 h) before running the item
BATCH_FAILED = "BatchFailed"  # the Gemini batch job failed, was canceled elsewhere, or failed the item

NON_RETRYABLE = [CONTENT_BLOCKED, QUOTA_EXHAUSTED, INVALID_REQUEST]

_API_CODES = {
    CONTENT_BLOCKED: "content_blocked",
    QUOTA_EXHAUSTED: "quota_exhausted",
    QUOTA_PAUSED: "quota_exhausted",
    RATE_LIMITED: "rate_limited",
    MODEL_UNAVAILABLE: "model_unavailable",
    NO_IMAGE: "no_image",
    INVALID_IMAGE: "invalid_image",
    INVALID_REQUEST: "invalid_request",
    STORAGE_UNAVAILABLE: "storage_unavailable",
    TIMED_OUT: "timed_out",
    INTERNAL: "internal",
    BATCH_EXPIRED: "batch_expired",
    BATCH_FAILED: "batch_failed",
}


def api_code(error_type: str | None) -> str:
    """The API's `error.code` for an ApplicationError type (`internal` when unknown)."""
    return _API_CODES.get(error_type or INTERNAL, "internal")

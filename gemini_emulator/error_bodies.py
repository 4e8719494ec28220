"""Google API error bodies, as the Gemini REST API returns them.

Shapes and messages come from /work/shared/GEMINI.md (gathered from Google's public docs and
real responses): `{"error": {"code": int, "message": str, "status": str, "details"?: [...]}}`.
"""

from __future__ import annotations

from typing import Any

QUOTA_PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel"
QUOTA_PER_DAY = "GenerateRequestsPerDayPerProjectPerModel"

UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)

# HTTP code -> (status, message) for the scripted server errors.
SERVER_ERRORS: dict[int, tuple[str, str]] = {
    500: ("INTERNAL", "An internal error has occurred."),
    502: ("UNAVAILABLE", "Bad Gateway"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}


class GeminiError(Exception):
    """An error the emulator answers with a Google-shaped JSON body (see `body`).

    `code` is the HTTP status code, `status` the google.rpc code name (e.g. "INVALID_ARGUMENT"),
    `details` the optional list of google.rpc detail objects.
    """

    def __init__(self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """Return `{"error": {"code", "message", "status", ["details"]}}`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(message: str) -> GeminiError:
    """A 400 INVALID_ARGUMENT error with `message`."""
    return GeminiError(400, "INVALID_ARGUMENT", message)


def permission_denied() -> GeminiError:
    """The 403 PERMISSION_DENIED error Google returns when no API key is sent."""
    return GeminiError(403, "PERMISSION_DENIED", UNREGISTERED_CALLER)


def not_found(message: str) -> GeminiError:
    """A 404 NOT_FOUND error with `message`."""
    return GeminiError(404, "NOT_FOUND", message)


def format_seconds(seconds: float) -> str:
    """Format a duration as Google's JSON Duration does: "47s", "1.5s"."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0") + "s"


def rate_limited(model: str, retry_delay_s: float, per_day: bool, limit: int = 10) -> GeminiError:
    """A 429 RESOURCE_EXHAUSTED error with Help, QuotaFailure and RetryInfo details.

    `retry_delay_s` (seconds) goes into RetryInfo.retryDelay and the message's
    "Please retry in <n>s."; `per_day` selects the daily quotaId (waiting minutes won't help);
    `limit` is the quota's value as the message and QuotaFailure.quotaValue state it.
    """
    quota_id = QUOTA_PER_DAY if per_day else QUOTA_PER_MINUTE
    metric = "generativelanguage.googleapis.com/generate_requests_per_model"
    if per_day:
        metric += "_per_day"
    delay = format_seconds(retry_delay_s)
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}\n"
        f"Please retry in {delay}."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(limit),
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    return GeminiError(429, "RESOURCE_EXHAUSTED", message, details)


def server_error(code: int) -> GeminiError:
    """A 5xx error (500, 502, 503 or 504) with the body Google sends for that code."""
    status, message = SERVER_ERRORS[code]
    return GeminiError(code, status, message)

"""How Gemini answers map to retries and error codes (DESIGN.md failure table).

The error objects are the SDK's own, built from the wire bodies in shared/GEMINI.md.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.genai import errors, types

from activities.gemini_outcome import classify_api_error, delivered_image, quota_id_of
from kernel import failure_codes

RATE_LIMIT_BODY = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota ... Please retry in 47.88s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "m", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"},
        ],
    }
}


def _api_error(code: int, body: dict) -> errors.APIError:
    cls = errors.ClientError if code < 500 else errors.ServerError
    return cls(code, body)


def test_429_waits_retry_info_delay() -> None:
    err = classify_api_error(_api_error(429, RATE_LIMIT_BODY))
    assert err.type == failure_codes.RATE_LIMITED
    assert not err.non_retryable
    assert err.next_retry_delay == timedelta(seconds=47)


def test_per_day_quota_is_not_retryable() -> None:
    body = {"error": {**RATE_LIMIT_BODY["error"]}}
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
        }
    ]
    err = classify_api_error(_api_error(429, body))
    assert (err.type, err.non_retryable) == (failure_codes.QUOTA_EXHAUSTED, True)


def test_429_carries_googles_quota_id() -> None:
    err = classify_api_error(_api_error(429, RATE_LIMIT_BODY))
    assert quota_id_of(err) == "GenerateRequestsPerMinutePerProjectPerModel"
    # Several violations: the per-day one names the 429 (it decides the pause).
    body = {"error": {**RATE_LIMIT_BODY["error"]}}
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {"quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier"},
                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel"},
            ],
        }
    ]
    err = classify_api_error(_api_error(429, body))
    assert (err.type, quota_id_of(err)) == (failure_codes.QUOTA_EXHAUSTED, "GenerateRequestsPerDayPerProjectPerModel")
    # No QuotaFailure at all: still counted, as "unknown".
    bare = classify_api_error(_api_error(429, {"error": {"code": 429, "message": "x", "status": "RESOURCE_EXHAUSTED"}}))
    assert (bare.type, quota_id_of(bare)) == (failure_codes.RATE_LIMITED, "unknown")


@pytest.mark.parametrize("code", [408, 500, 502, 503, 504])
def test_transient_http_errors_are_retried(code: int) -> None:
    err = classify_api_error(_api_error(code, {"error": {"code": code, "message": "x", "status": "UNAVAILABLE"}}))
    assert (err.type, err.non_retryable) == (failure_codes.MODEL_UNAVAILABLE, False)


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_client_errors_are_not_retried(code: int) -> None:
    err = classify_api_error(
        _api_error(code, {"error": {"code": code, "message": "bad", "status": "INVALID_ARGUMENT"}})
    )
    assert (err.type, err.non_retryable) == (failure_codes.INVALID_REQUEST, True)


def _response(parts: list[types.Part], finish: str = "STOP") -> types.GenerateContentResponse:
    return types.GenerateContentResponse(
        candidates=[
            types.Candidate(content=types.Content(role="model", parts=parts), finish_reason=types.FinishReason(finish))
        ]
    )


def test_delivered_image_is_the_last_non_thought_image() -> None:
    thought = types.Part(inline_data=types.Blob(data=b"thought", mime_type="image/png"), thought=True)
    first = types.Part(inline_data=types.Blob(data=b"first", mime_type="image/png"))
    last = types.Part(inline_data=types.Blob(data=b"last", mime_type="image/jpeg"))
    image = delivered_image(_response([thought, first, types.Part(text="done"), last, thought]), last_attempt=False)
    assert (image.data, image.mime) == (b"last", "image/jpeg")


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "SAFETY", "PROHIBITED_CONTENT"])
def test_safety_finish_reasons_block_for_good(reason: str) -> None:
    with pytest.raises(Exception) as caught:
        delivered_image(_response([types.Part(text="I can't make that.")], finish=reason), last_attempt=False)
    err = caught.value
    assert getattr(err, "type", None) == failure_codes.CONTENT_BLOCKED
    assert getattr(err, "non_retryable", None) is True
    assert reason in str(err)


def test_text_only_answer_is_no_image_until_last_attempt() -> None:
    response = _response([types.Part(text="Here is a description instead.")])
    with pytest.raises(Exception) as early:
        delivered_image(response, last_attempt=False)
    with pytest.raises(Exception) as final:
        delivered_image(response, last_attempt=True)
    assert getattr(early.value, "type", None) == failure_codes.NO_IMAGE
    assert getattr(early.value, "non_retryable", None) is False
    assert getattr(final.value, "non_retryable", None) is True

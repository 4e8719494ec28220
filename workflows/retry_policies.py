"""Timeouts and retry policies of the render workflow's activities (DESIGN.md failure table)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from kernel import failure_codes

# One model call: Gemini 3 Pro takes 10-60 s for an image, a 4K one longer; staging retries
# can add a few minutes. Heartbeats every 2 s: a dead worker is noticed within 10 s, and a
# cancel (delivered in answer to a heartbeat, throttled to 80% of this timeout) within ~8 s.
GENERATE_START_TO_CLOSE = timedelta(minutes=8)
GENERATE_HEARTBEAT = timedelta(seconds=10)
MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,  # bounded by the task deadline (schedule-to-close), not by a count
    non_retryable_error_types=failure_codes.NON_RETRYABLE,
)

# Short activities have no heartbeat: their start-to-close is how long a dead worker holds them
# before a retry elsewhere, so keep it tight. Measured here: decoding a 5504x3072 PNG takes
# 0.16 s and a cover-crop of it 0.5 s; moving tens of MB to S3 dominates a real 4K publish.
PROMPT_START_TO_CLOSE = timedelta(seconds=10)
PROMPT_RETRY = RetryPolicy(maximum_attempts=5)

# Storage and records never call the model, so they may retry long: a paid image must land.
STORAGE_START_TO_CLOSE = timedelta(seconds=30)
RECORD_START_TO_CLOSE = timedelta(seconds=10)
DURABLE_SCHEDULE_TO_CLOSE = timedelta(hours=1)


def durable_retry(*non_retryable: str) -> RetryPolicy:
    """1 s doubling to 30 s, no attempt cap (bounded by DURABLE_SCHEDULE_TO_CLOSE)."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=0,
        non_retryable_error_types=list(non_retryable),
    )


DURABLE_RETRY = durable_retry(failure_codes.INVALID_IMAGE)
DURABLE_RETRY_UNLESS_GONE = durable_retry("ProjectGone")

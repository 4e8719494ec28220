"""Business metrics recorded from activities through the SDK's metric meter, so they are
served with the SDK's own series on the worker's Prometheus endpoint (no-ops when the worker's
runtime has no metrics configured).

Series (counters; Prometheus adds `_total`):
- `render_model_calls{model}`: generateContent calls made (paid or not).
- `render_images_generated{model}`: images the model delivered and we staged.
- `render_model_errors{model, error_code, retryable}`: failed calls, by our error code.
- `render_blocked{model, reason}`: prompt blocks and safety finish reasons.
- `render_bytes_stored`: bytes written as published images.
- `render_cost_micro_usd{model, mode}`: what the recorded images cost, in integer micro-dollars
  (1 USD = 1,000,000; the SDK's counters are integers, and money is never a float here).
- `housekeeping_removed{job, dry_run}`: what a housekeeping run removed (issue 13).

And (`record_queue_wait`, `model_call_in_flight`):
- `render_queue_wait_seconds{model, project}` (histogram, seconds): how long each generate_image
  attempt waited in its queue (pace and fairness included) before a worker took it. Its buckets
  are `clients.telemetry.QUEUE_WAIT_BUCKETS_S`. `project` is a project id: one series per
  project, so `METRICS_PROJECT_LABEL=false` leaves it out on a deployment with many projects.
- `render_model_calls_in_flight{model}` (gauge): generateContent calls of this worker process
  waiting for their answer right now.

Every series also carries the SDK's `namespace`, `task_queue` and `activity_type` labels.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from temporalio import activity

_DESCRIPTIONS = {
    "render_model_calls": "Gemini generateContent calls made",
    "render_images_generated": "images delivered by the model and staged in S3",
    "render_model_errors": "failed model calls, by error code",
    "render_blocked": "prompt blocks and image safety blocks, by reason",
    "render_bytes_stored": "bytes written as published images",
    "render_cost_micro_usd": "cost of the recorded images, micro-dollars",
    "housekeeping_removed": "objects, files or keys a housekeeping run removed (or, dry, would remove)",
}


def count(name: str, value: int = 1, **attributes: str) -> None:
    """Add `value` to counter `name` (one of `_DESCRIPTIONS`) with `attributes`."""
    unit = "By" if name.endswith("bytes_stored") else "1"
    counter = activity.metric_meter().create_counter(name, _DESCRIPTIONS[name], unit)
    counter.add(value, dict(attributes))


def record_queue_wait(model: str, project_id: str | None) -> float:
    """Record in `render_queue_wait_seconds` how long the current activity attempt waited in its
    task queue: now minus the attempt's scheduled time (>= 0; seconds, returned). `project_id`
    None leaves the project label out."""
    scheduled = activity.info().current_attempt_scheduled_time
    waited_s = max(0.0, (datetime.now(UTC) - scheduled).total_seconds())
    labels = {"model": model} if project_id is None else {"model": model, "project": project_id}
    histogram = activity.metric_meter().create_histogram_float(
        "render_queue_wait_seconds", "time a model call waited in its task queue", "s"
    )
    histogram.record(waited_s, labels)
    return waited_s


# Model calls in flight in this process, by (task queue, model): the gauge's series carries the
# activity's task queue, so each queue's count is its own.
_in_flight: Counter[tuple[str, str]] = Counter()


@contextlib.contextmanager
def model_call_in_flight(model: str) -> Iterator[None]:
    """Count a model call in `render_model_calls_in_flight{model}` while the block runs (inside
    an activity: the event loop's thread, so the count needs no lock)."""
    key = (activity.info().task_queue, model)
    gauge = activity.metric_meter().create_gauge(
        "render_model_calls_in_flight", "model calls of this worker waiting for their answer", "1"
    )
    _in_flight[key] += 1
    gauge.set(_in_flight[key], {"model": model})
    try:
        yield
    finally:
        _in_flight[key] -= 1
        gauge.set(_in_flight[key], {"model": model})

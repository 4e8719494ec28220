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
"""

from __future__ import annotations

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

"""How many model calls (`generate_image`) a worker process may run at once within its memory
budget, `WORKER_MEMORY_BUDGET_MB`. docs/decisions.md ("Worker event loop and memory") has the
measurements behind the constants and the arithmetic.

An image activity's memory is its answer's bytes held while they are parsed, verified and
staged: about `WORKER_IMAGE_MEMORY_MB` for a 4K image (the HTTP body, its JSON text and the
decoded bytes, ~20 MB each), less in proportion to pixels for smaller models. The decoded bitmap
(~70 MB at 4K) exists only inside the image thread pool, so at most `CPU_THREADS` of them at
once however many calls are in flight. `publish_image` holds no image bytes when it copies
inside S3, and its resize path is bounded separately (`RESIZE_CONCURRENCY`).

    budget = BASELINE_MB + CPU_THREADS x (DECODE_MB + RESIZE_HELD_MB) + sum(slots[m] x cost[m])

Every model queue gets one slot (so each keeps polling); the rest of the budget goes to the
cheapest models first, each up to `GEMINI_MAX_CONCURRENT_CALLS`: a 1K-only model's calls are
cheap, and the largest model gets what is left.
"""

from __future__ import annotations

from activities.cpu_pool import CPU_THREADS
from kernel.catalog import MODELS, SIZE_FACTOR

# A worker process's resident memory before any image: interpreter, SDKs, Temporal core,
# connection pools (measured: 164 MB for `studio worker` idle; rounded up for tracing exporters).
BASELINE_MB = 256
# One decoded 4K bitmap in the thread pool: 5504 x 3072 px x 4 bytes (RGBA), rounded up.
DECODE_MB = 70
# What one resize holds besides its bitmap: the staged bytes (~20 MB at 4K) and the PNG it writes.
RESIZE_HELD_MB = 30
# Resizes (download, crop, upload) one process runs at once: one per image thread.
RESIZE_CONCURRENCY = CPU_THREADS
# Floor of a model call's cost: the response and SDK objects of even a small image.
MIN_CALL_MB = 4


def _largest_pixels(model: str) -> int:
    spec = MODELS[model]
    factor = max(SIZE_FACTOR[size] for size in spec.image_sizes) if spec.supports_image_size else 1  # per side
    return round(max(w * h for w, h in spec.base_sizes.values()) * factor * factor)


def call_cost_mb(model: str, image_memory_mb: int) -> float:
    """Memory of one in-flight call of `model` at its largest image, in MB: `image_memory_mb`
    (the cost of the largest image of any model) scaled by pixels."""
    largest = max(_largest_pixels(m) for m in MODELS)
    return max(MIN_CALL_MB, image_memory_mb * _largest_pixels(model) / largest)


def reserved_mb() -> int:
    """The part of the budget not available to model calls: baseline, bitmaps and resizes."""
    return BASELINE_MB + CPU_THREADS * (DECODE_MB + RESIZE_HELD_MB)


def model_call_slots(budget_mb: int, image_memory_mb: int, max_calls: int) -> dict[str, int]:
    """Activity slots of each model's queue worker so that their calls together fit `budget_mb`
    (each between 1 and `max_calls`; one call of each model is always allowed, so with a budget
    below `reserved_mb()` plus one call of each the result is 1 each, over budget)."""
    costs = {model: call_cost_mb(model, image_memory_mb) for model in MODELS}
    available: float = budget_mb - reserved_mb() - sum(costs.values())
    slots: dict[str, int] = {}
    for model in sorted(MODELS, key=costs.__getitem__):
        extra = max(0, min(max_calls - 1, int(available // costs[model])))
        slots[model] = 1 + extra
        available -= extra * costs[model]
    return slots

"""Server-wide settings of the emulator and the quota it enforces, like Google's per-project one.

Google counts requests per project (here: per API key) and per model, in a sliding minute and
per day (GEMINI.md). Past the per-minute limit a call gets 429 RESOURCE_EXHAUSTED whose
RetryInfo says when the oldest call in the window leaves it (rounded up to whole seconds); past
the per-day limit the QuotaFailure's quotaId says PerDay and RetryInfo points at the next UTC
midnight. Calls refused by the quota do not count against it. Only valid requests are counted
(a 400 costs nothing), and the quota is checked before any scripted outcome.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 24 * 3600


class EmulatorConfig(BaseModel):
    """What every call is subject to; changed at run time by POST /_emulator/config."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_s: float = Field(0.0, ge=0, description="seconds every unscripted call takes")
    quota_images_per_minute: int | None = Field(
        None, ge=1, description="calls admitted per sliding window, per API key and model; None: no limit"
    )
    quota_window_s: float = Field(60.0, gt=0, description="length of the sliding window (a minute, like Google's)")
    quota_images_per_day: int | None = Field(
        None, ge=0, description="calls admitted per UTC day, per API key and model; None: no limit"
    )
    realistic_bytes: bool = Field(
        False, description="encode images at a real model's size (about 1.2 bytes per pixel: 20 MB at 4K)"
    )
    batch_turnaround_s: float = Field(5.0, ge=0, description="seconds from a Batch API job's creation to its end")

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply `changes` (field -> value; null lifts a quota) all at once, in place, so the
        quota and the app see them. Raises pydantic.ValidationError and changes nothing when
        the result would be invalid."""
        merged = type(self).model_validate({**self.model_dump(), **changes})
        for name in changes:
            setattr(self, name, getattr(merged, name))


@dataclass(frozen=True)
class QuotaRefusal:
    """Why a call was refused: the limit it hit, when to retry (whole seconds), per day or not."""

    limit: int
    retry_delay_s: float
    per_day: bool


def key_fingerprint(api_key: str) -> str:
    """A short, stable id of an API key, so logs never hold the key itself."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


class SlidingWindowQuota:
    """Admission times per (key fingerprint, model) in a sliding window, plus per-day counts.

    Thread-safe. `admit` reads the limits from `config` at each call, so a change through the
    control endpoint applies at once; `reset` forgets every window and day count.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._days: dict[tuple[str, str], tuple[int, int]] = {}  # -> (UTC day number, admitted)

    def admit(self, key: str, model: str, now: float | None = None) -> QuotaRefusal | None:
        """Count the call and return None, or return the refusal (the call is not counted).

        `now` is Unix time in seconds (defaults to the clock).
        """
        per_minute, window_s = self._config.quota_images_per_minute, self._config.quota_window_s
        per_day = self._config.quota_images_per_day
        now = time.time() if now is None else now
        scope = (key, model)
        with self._lock:
            day = int(now // DAY_S)
            day_of_count, used_today = self._days.get(scope, (day, 0))
            if day_of_count != day:
                used_today = 0
            if per_day is not None and used_today >= per_day:
                return QuotaRefusal(per_day, float(math.ceil((day + 1) * DAY_S - now)), per_day=True)
            window = self._windows.setdefault(scope, deque())
            while window and window[0] <= now - window_s:
                window.popleft()
            if per_minute is not None and len(window) >= per_minute:
                delay = max(1, math.ceil(window[0] + window_s - now))
                return QuotaRefusal(per_minute, float(delay), per_day=False)
            if per_minute is not None:
                window.append(now)
            self._days[scope] = (day, used_today + 1)
        return None

    def reset(self) -> None:
        """Forget every admission (a fresh minute and day for every key)."""
        with self._lock:
            self._windows.clear()
            self._days.clear()

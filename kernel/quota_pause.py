"""How a model queue says it is paused for Gemini's daily quota, in its own config.

The pause is the model task queue's server-side dispatch rate set to 0 (activities/quota_pacing.py),
with a reason that names the reset time. The queue's config is the one place the pause is
enforced, so it is also the one place anyone reads it: workers (a worker started during a pause
keeps it) and the API (it refuses new standard tasks of that model until the reset instead of
accepting work that would wait past its deadline). An operator who resumes the queue by hand
(`temporal task-queue config set --queue-rps-limit ...`) changes the reason, which ends the pause
for everyone.
"""

from __future__ import annotations

from datetime import datetime

PAUSE_REASON_PREFIX = "daily quota exhausted: paused until "


def pause_reason(until: datetime) -> str:
    """The config reason of a pause until `until` (aware), e.g.
    "daily quota exhausted: paused until 2026-11-23T08:00:00+00:00"."""
    return f"{PAUSE_REASON_PREFIX}{until.isoformat()}"


def paused_until(rate_per_s: float, reason: str, now: datetime) -> datetime | None:
    """The end of the pause a queue config describes (`rate_per_s` calls/s and its reason), or
    None when the queue is not paused for the daily quota or the pause has ended by `now`."""
    if rate_per_s > 0 or not reason.startswith(PAUSE_REASON_PREFIX):
        return None
    try:
        until = datetime.fromisoformat(reason[len(PAUSE_REASON_PREFIX) :].strip())
    except ValueError:
        return None
    return until if until.tzinfo is not None and until > now else None

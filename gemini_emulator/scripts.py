"""Scripted outcomes and the call log: how tests make the emulator misbehave on cue.

A script is (match substring, queue of outcomes). A generateContent call whose prompt text
contains `match` pops the next outcome of the first registered script that still has one;
with none left the call succeeds normally. Every call is recorded for `calls()`.
The registry is guarded by a lock, so tests may use it from any thread while the emulator's
event loop runs in another.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(0, ge=0, description="seconds to sleep before answering")


class OkOutcome(_Outcome):
    """Succeed normally; the final image is encoded as `mime`."""

    kind: Literal["ok"] = "ok"
    mime: Literal["image/png", "image/jpeg"] = "image/png"


class RateLimitOutcome(_Outcome):
    """HTTP 429 RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo(`retry_delay_s` seconds)."""

    kind: Literal["rate_limit"] = "rate_limit"
    retry_delay_s: float = Field(1, ge=0)
    per_day: bool = False


class ServerErrorOutcome(_Outcome):
    """HTTP 500/502/503/504 with Google's body for that code."""

    kind: Literal["server_error"] = "server_error"
    code: Literal[500, 502, 503, 504] = 503


class PromptBlockOutcome(_Outcome):
    """HTTP 200, no candidates, `promptFeedback.blockReason = reason`."""

    kind: Literal["prompt_block"] = "prompt_block"
    reason: Literal["PROHIBITED_CONTENT", "SAFETY", "BLOCKLIST", "OTHER", "IMAGE_SAFETY"] = "PROHIBITED_CONTENT"


class FinishBlockOutcome(_Outcome):
    """HTTP 200, one candidate with finishReason `reason` and no image.

    `content`: "text" (a refusal text part), "empty" (no parts) or "absent" (no content).
    """

    kind: Literal["finish_block"] = "finish_block"
    reason: Literal[
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "SAFETY",
        "PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
    ] = "IMAGE_SAFETY"
    content: Literal["text", "empty", "absent"] = "text"


class NoImageOutcome(_Outcome):
    """HTTP 200, one candidate with only text parts and finishReason `reason`."""

    kind: Literal["no_image"] = "no_image"
    reason: Literal["NO_IMAGE", "IMAGE_OTHER", "STOP"] = "NO_IMAGE"


class BadBase64Outcome(_Outcome):
    """HTTP 200 success shape, but the final image's `data` is truncated, invalid base64."""

    kind: Literal["bad_base64"] = "bad_base64"


class NotImageOutcome(_Outcome):
    """HTTP 200 success shape, but the final image's bytes are b"hello", not an image."""

    kind: Literal["not_image"] = "not_image"


class HangOutcome(_Outcome):
    """Sleep `seconds` (asyncio, after `latency_s`) and then succeed normally."""

    kind: Literal["hang"] = "hang"
    seconds: float = Field(60, ge=0)


Outcome = Annotated[
    OkOutcome
    | RateLimitOutcome
    | ServerErrorOutcome
    | PromptBlockOutcome
    | FinishBlockOutcome
    | NoImageOutcome
    | BadBase64Outcome
    | NotImageOutcome
    | HangOutcome,
    Field(discriminator="kind"),
]
OUTCOME_ADAPTER: TypeAdapter[Outcome] = TypeAdapter(Outcome)

QUOTA_EXCEEDED = "quota_exceeded"  # the logged outcome of a call the configured quota refused
SUCCESS_OUTCOMES = ("ok", "hang")  # outcomes answered with a usable image


class ScriptIn(BaseModel):
    """Body of POST /_emulator/scripts: `{"match": str, "outcomes": [Outcome, ...]}`."""

    model_config = ConfigDict(extra="forbid")

    match: str
    outcomes: list[Outcome]


class CallRecord(BaseModel):
    """One generateContent request: `outcome` is the outcome kind or the error status
    (e.g. "ok", "rate_limit", "INVALID_ARGUMENT"); `at` is Unix time in seconds."""

    model: str
    prompt: str
    outcome: str
    at: float
    reference_images: int = 0  # inline images sent with the prompt (valid requests only)
    key: str = ""  # fingerprint of the API key (quota.key_fingerprint); "" when none was sent
    batch: str = ""  # the batch job ("batches/<id>") that billed this item; "" for a single call


class ScriptRegistry:
    """Thread-safe store of scripts (match -> outcome queue) and of the call log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, deque[Outcome]]] = []
        self._calls: list[CallRecord] = []

    def add(self, match: str, outcomes: Iterable[Outcome | Mapping[str, Any]]) -> None:
        """Queue `outcomes` (models or dicts like `{"kind": "rate_limit"}`) for the next calls
        whose prompt contains `match`. Raises pydantic.ValidationError for a bad outcome."""
        queue: deque[Outcome] = deque(OUTCOME_ADAPTER.validate_python(o) for o in outcomes)
        with self._lock:
            self._scripts.append((match, queue))

    def take(self, prompt: str) -> Outcome | None:
        """Pop the next outcome for `prompt` (first matching script with outcomes left)."""
        with self._lock:
            for match, queue in self._scripts:
                if queue and match in prompt:
                    return queue.popleft()
        return None

    def pending(self) -> list[dict[str, object]]:
        """Scripts with outcomes left: `[{"match": str, "remaining": [kind, ...]}]`."""
        with self._lock:
            return [
                {"match": match, "remaining": [outcome.kind for outcome in queue]}
                for match, queue in self._scripts
                if queue
            ]

    def record(
        self, model: str, prompt: str, outcome: str, reference_images: int = 0, key: str = "", batch: str = ""
    ) -> None:
        """Append a call (or a batch item, `batch` = its job's name) to the log, stamped with
        the current Unix time."""
        record = CallRecord(
            model=model,
            prompt=prompt,
            outcome=outcome,
            at=time.time(),
            reference_images=reference_images,
            key=key,
            batch=batch,
        )
        with self._lock:
            self._calls.append(record)

    def calls(self, match: str | None = None, key: str | None = None) -> list[CallRecord]:
        """Logged calls whose prompt contains `match` (all calls when `match` is None), made
        with the API key whose fingerprint is `key` (any key when None)."""
        with self._lock:
            return [c for c in self._calls if (match is None or match in c.prompt) and (key is None or c.key == key)]

    def stats(self, match: str | None = None, key: str | None = None) -> dict[str, Any]:
        """Counts of the calls `calls(match, key)` selects: `{"calls", "ok" (answered with an
        image), "rate_limited" (every 429), "quota_exceeded" (429s of the configured quota),
        "outcomes": {outcome: count}}`."""
        outcomes = Counter(c.outcome for c in self.calls(match, key))
        return {
            "calls": sum(outcomes.values()),
            "ok": sum(outcomes[kind] for kind in SUCCESS_OUTCOMES),
            "rate_limited": outcomes["rate_limit"] + outcomes[QUOTA_EXCEEDED],
            "quota_exceeded": outcomes[QUOTA_EXCEEDED],
            "outcomes": dict(outcomes),
        }

    def reset(self) -> None:
        """Forget every script and every logged call."""
        with self._lock:
            self._scripts.clear()
            self._calls.clear()

"""Gemini's Batch API as the Developer API serves it, with inline requests (no Files API).

Wire shapes, as google-genai (`google/genai/batches.py`) sends and parses them:

- create: `POST /{v}/models/{model}:batchGenerateContent` body `{"batch": {"displayName": str,
  "inputConfig": {"requests": {"requests": [{"request": GenerateContentRequest, "metadata":
  {...}}]}}}}` -> an Operation `{"name": "batches/<id>", "metadata": GenerateContentBatch}`.
- get: `GET /{v}/batches/<id>` -> the Operation; `metadata.state` is `BATCH_STATE_PENDING |
  RUNNING | SUCCEEDED | FAILED | CANCELLED | EXPIRED` (the SDK maps these to `JOB_STATE_*`); a
  finished job has `done: true` and, when it succeeded, `metadata.output.inlinedResponses.
  inlinedResponses`: one `{"response": GenerateContentResponse}` or `{"error": Status}` per
  request, in the order of the requests, each with the request's `metadata`.
- cancel: `POST /{v}/batches/<id>:cancel` -> `{}` (a job already finished is left as it is).
- delete: `DELETE /{v}/batches/<id>` -> `{}`; list: `GET /{v}/batches?pageSize=&pageToken=` ->
  `{"operations": [...], "nextPageToken": str}` (the caller's own jobs, newest first).

Time: a job is PENDING for the first quarter of its turnaround, RUNNING until the turnaround
has passed, then finishes when next read. Per-item outcomes come from the same script registry
as single calls (scripts.py: prompt substring -> outcome), popped when the job finishes; each
finished item is billed once (logged as a call with `batch` = the job's name). A whole-job
outcome (`expire`, `fail`) is scripted by prompt substring (`BatchScript`) and taken when the
job is created; such a job bills nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import responses
from .scripts import (
    BadBase64Outcome,
    FinishBlockOutcome,
    HangOutcome,
    NoImageOutcome,
    NotImageOutcome,
    OkOutcome,
    Outcome,
    PromptBlockOutcome,
    RateLimitOutcome,
    ScriptRegistry,
    ServerErrorOutcome,
)
from .validation import ImageRequest

JobState = Literal[
    "BATCH_STATE_PENDING",
    "BATCH_STATE_RUNNING",
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
]
TERMINAL_STATES = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
DEFAULT_PAGE_SIZE = 50


class BatchScript(BaseModel):
    """Body of POST /_emulator/batch_scripts: the next job holding a request whose prompt
    contains `match` ends as `outcome` ("expire": EXPIRED, "fail": FAILED, "ok": as its items
    say) after `turnaround_s` seconds (None: the configured turnaround)."""

    model_config = ConfigDict(extra="forbid")

    match: str
    outcome: Literal["ok", "expire", "fail"] = "ok"
    turnaround_s: float | None = Field(None, ge=0)


@dataclass
class BatchItem:
    """One inline request of a job: the validated request and its caller-given metadata."""

    request: ImageRequest
    metadata: dict[str, Any] | None


@dataclass
class BatchJob:
    """A job and its life: `created`/`ends` are Unix seconds; `result` is set once finished."""

    name: str
    model: str
    display_name: str
    key: str
    items: list[BatchItem]
    created: float
    ends: float
    final: Literal["ok", "expire", "fail"]
    state: JobState = "BATCH_STATE_PENDING"
    updated: float = 0.0
    ended: float | None = None
    output: list[dict[str, Any]] | None = None
    finishing: bool = False
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item_response(request: ImageRequest, outcome: Outcome, realistic: bool) -> dict[str, Any]:
    """The InlinedResponse of one item answered as `outcome` (CPU-bound: renders the image).

    Errors a single call would answer with an HTTP status (429, 5xx) become the item's
    `error` Status (`{"code": 13|8|14, "message"}`) instead."""
    match outcome:
        case RateLimitOutcome():
            return {"error": {"code": 8, "message": "Resource has been exhausted (e.g. check quota)."}}
        case ServerErrorOutcome():
            code = 14 if outcome.code == 503 else 13
            return {"error": {"code": code, "message": "An internal error has occurred."}}
        case PromptBlockOutcome():
            return {"response": responses.prompt_block_body(request, outcome.reason)}
        case FinishBlockOutcome():
            return {"response": responses.text_only_body(request, outcome.reason, outcome.content)}
        case NoImageOutcome():
            text = "I couldn't produce an image this time; here is a description instead."
            return {"response": responses.text_only_body(request, outcome.reason, "text", text)}
        case BadBase64Outcome() | NotImageOutcome():
            return {"response": responses.success_body(request, "image/png", outcome.kind)}
        case HangOutcome():
            return {"response": responses.success_body(request, "image/png", None, realistic)}
        case OkOutcome():
            return {"response": responses.success_body(request, outcome.mime, None, realistic)}
    raise AssertionError(f"unhandled outcome {outcome!r}")  # pragma: no cover


class BatchStore:
    """Thread-safe store of batch jobs, their job-level scripts and per-key counters.

    Counters per API key fingerprint: `jobs_created`, `items_billed` (items of finished jobs,
    each counted once), `cancels` (jobs cancelled while still pending or running)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, BatchJob] = {}
        self._scripts: list[BatchScript] = []
        self._counters: dict[str, Counter[str]] = {}

    def add_script(self, script: BatchScript) -> None:
        """Queue a whole-job outcome (taken by the next job with a matching prompt)."""
        with self._lock:
            self._scripts.append(script)

    def _take_script(self, items: list[BatchItem]) -> BatchScript | None:
        for script in self._scripts:
            if any(script.match in item.request.prompt for item in items):
                self._scripts.remove(script)
                return script
        return None

    def _count(self, key: str, what: str, n: int = 1) -> None:
        self._counters.setdefault(key, Counter())[what] += n

    def create(self, model: str, display_name: str, key: str, items: list[BatchItem], turnaround_s: float) -> BatchJob:
        """Register a new PENDING job; returns it. `key` is the API key's fingerprint."""
        now = time.time()
        with self._lock:
            script = self._take_script(items)
            if script is not None and script.turnaround_s is not None:
                turnaround_s = script.turnaround_s
            job = BatchJob(
                name=f"batches/{secrets.token_hex(10)}",
                model=model,
                display_name=display_name,
                key=key,
                items=items,
                created=now,
                ends=now + turnaround_s,
                final=script.outcome if script is not None else "ok",
                updated=now,
            )
            self._jobs[job.name] = job
            self._count(key, "jobs_created")
        return job

    def find(self, name: str, key: str) -> BatchJob | None:
        """The caller's job `name` ("batches/<id>"), or None (unknown, deleted or not theirs)."""
        with self._lock:
            job = self._jobs.get(name)
        return job if job is not None and not job.deleted and job.key == key else None

    def list(self, key: str) -> list[BatchJob]:
        """The caller's jobs, newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.key == key and not j.deleted]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def advance(self, job: BatchJob, now: float | None = None) -> bool:
        """Move `job` along its clock; True when it is due to finish now and this caller must
        produce its output (`finish`). Never two callers for one job."""
        now = time.time() if now is None else now
        with self._lock:
            if job.state in TERMINAL_STATES or job.finishing:
                return False
            if now >= job.ends:
                if job.final == "ok":
                    job.finishing = True
                    return True
                job.state = "BATCH_STATE_EXPIRED" if job.final == "expire" else "BATCH_STATE_FAILED"
                job.ended = job.updated = now
            elif now >= job.created + (job.ends - job.created) / 4 and job.state == "BATCH_STATE_PENDING":
                job.state = "BATCH_STATE_RUNNING"
                job.updated = now
            return False

    def finish(self, job: BatchJob, registry: ScriptRegistry, realistic: bool) -> None:
        """Answer every item (scripted outcome or success), bill each once, mark SUCCEEDED.
        CPU-bound; call it from a thread. A job cancelled meanwhile stays cancelled."""
        output: list[dict[str, Any]] = []
        for item in job.items:
            outcome = registry.take(item.request.prompt) or OkOutcome()
            answer = item_response(item.request, outcome, realistic)
            if item.metadata is not None:
                answer["metadata"] = item.metadata
            output.append(answer)
            registry.record(
                job.model, item.request.prompt, outcome.kind, item.request.reference_images, job.key, batch=job.name
            )
        now = time.time()
        with self._lock:
            job.finishing = False
            if job.state in TERMINAL_STATES:
                return
            job.output = output
            job.state = "BATCH_STATE_SUCCEEDED"
            job.ended = job.updated = now
            self._count(job.key, "items_billed", len(job.items))

    def cancel(self, job: BatchJob) -> None:
        """Cancel a pending or running job (nothing is billed); a finished job is left alone."""
        with self._lock:
            if job.state in TERMINAL_STATES:
                return
            job.state = "BATCH_STATE_CANCELLED"
            job.ended = job.updated = time.time()
            self._count(job.key, "cancels")

    def delete(self, job: BatchJob) -> None:
        """Forget `job` (later reads are 404)."""
        with self._lock:
            job.deleted = True

    def stats(self, key: str | None = None) -> dict[str, int]:
        """`{"jobs_created", "items_billed", "cancels"}` for the key fingerprint (all keys when None)."""
        with self._lock:
            counters = [c for k, c in self._counters.items() if key is None or k == key]
        total: Counter[str] = Counter()
        for counter in counters:
            total.update(counter)
        return {name: total[name] for name in ("jobs_created", "items_billed", "cancels")}

    def reset(self) -> None:
        """Forget every job, job script and counter."""
        with self._lock:
            self._jobs.clear()
            self._scripts.clear()
            self._counters.clear()


def operation_body(job: BatchJob) -> dict[str, Any]:
    """The Operation a get/create/list returns for `job`."""
    total = len(job.items)
    finished = job.state in TERMINAL_STATES
    stats: dict[str, str] = {"requestCount": str(total)}
    if job.state == "BATCH_STATE_SUCCEEDED" and job.output is not None:
        failed = sum(1 for o in job.output if "error" in o)
        stats |= {"successfulRequestCount": str(total - failed), "failedRequestCount": str(failed)}
    elif not finished:
        stats["pendingRequestCount"] = str(total)
    metadata: dict[str, Any] = {
        "@type": _BATCH_TYPE,
        "model": f"models/{job.model}",
        "displayName": job.display_name,
        "createTime": _timestamp(job.created),
        "updateTime": _timestamp(job.updated),
        "batchStats": stats,
        "state": job.state,
        "name": job.name,
    }
    body: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if job.ended is not None:
        metadata["endTime"] = _timestamp(job.ended)
    if job.output is not None:
        output = {"inlinedResponses": {"inlinedResponses": job.output}}
        metadata["output"] = output
        body["response"] = {"@type": _OUTPUT_TYPE, **output}
    if finished:
        body["done"] = True
    if job.state == "BATCH_STATE_FAILED":
        body["error"] = {"code": 13, "message": "The batch failed: an internal error has occurred."}
    return body

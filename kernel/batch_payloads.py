"""Payloads of batch mode (issue 12): what crosses Temporal between a batch task, the per-model
collector, the Gemini batch job workflow and their activities.

No image bytes here either: a finished item travels as a `GeneratedImage` (its S3 staging key
and checksum), a failed one as a `TaskError`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from kernel.payloads import GeneratedImage, PromptPlan, ReferenceImage, TaskError

# A PNG from the image models runs to about 1.2 bytes per pixel (20 MB at 4K, measured on
# noisy renders; flat ones are smaller); base64 in JSON adds a third, and the Developer API
# repeats a job's output in the Operation's metadata and response (~56 MB of text per 4K PNG,
# docs/decisions.md "Batch mode fixes").
ANSWER_BYTES_PER_PIXEL = 1.2 * 4 / 3 * 2
# Google's limit on a batch job's inline requests, together (the Batch API docs: "inline
# requests ... under 20MB"; the API answers 400 "Request payload size exceeds the limit:
# 20971520 bytes"). Reference images go base64 inside them.
INLINE_REQUEST_LIMIT_BYTES = 20 * 1024 * 1024
# A request's JSON around its prompt and images (role, config, metadata key), bytes.
REQUEST_OVERHEAD_BYTES = 1024


def inline_request_bytes(prompt: str, reference_sizes: list[int | None]) -> int:
    """Estimated size of one item's request in a job's inline requests (bytes): the prompt, each
    reference image base64 (a reference of unknown size counts as 0), and REQUEST_OVERHEAD_BYTES."""
    images = sum(size or 0 for size in reference_sizes)
    return len(prompt.encode()) + (images * 4 + 2) // 3 + REQUEST_OVERHEAD_BYTES


class BatchSettings(BaseModel):
    """How a collector gathers and a job polls (from clients.settings, read by the enqueuing
    activity, since workflows read no settings). Seconds."""

    gather_s: float = Field(60.0, ge=0)  # the longest an item waits for others before a submit
    max_items: int = Field(100, ge=1)  # a job is submitted as soon as this many items wait
    poll_initial_s: float = Field(30.0, gt=0)  # the first wait between two reads of a job
    poll_max_s: float = Field(600.0, gt=0)  # the longest wait between two reads (x1.5 each time)
    jobs_per_run: int = Field(50, ge=1)  # jobs a collector run starts before it continues as new
    wait_max_s: float = Field(72 * 3600.0, gt=0)  # the longest a task waits for its outcomes
    # A job's answers come back inline, every image base64 in one JSON document that a worker
    # reads whole: a job takes items until their estimated answers reach this many bytes.
    max_output_bytes: int = Field(256 * 1024 * 1024, ge=1)


class BatchItem(BaseModel):
    """One variation of one batch task, as handed to the collector and then to a job."""

    task_workflow_id: str
    task_id: str
    project_id: str
    variation_index: int
    plan: PromptPlan
    references: list[ReferenceImage] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """`<task workflow id>#<variation>`: unique per item; the job request's metadata key."""
        return f"{self.task_workflow_id}#{self.variation_index}"

    @property
    def answer_bytes(self) -> int:
        """Estimated size of this item's answer in a job's inline output (bytes): the delivered
        size's pixels at ANSWER_BYTES_PER_PIXEL (1K when a plan recorded before did not say)."""
        pixels = (self.plan.model_width or 1024) * (self.plan.model_height or 1024)
        return int(pixels * ANSWER_BYTES_PER_PIXEL)

    @property
    def request_bytes(self) -> int:
        """Estimated size of this item's request in the job's inline requests (bytes)."""
        return inline_request_bytes(self.plan.prompt, [r.byte_size for r in self.references])


class EnqueueBatchInput(BaseModel):
    """Input of `enqueue_batch_items`: a task's variations for the collector of `model`."""

    model: str
    items: list[BatchItem]


class WithdrawBatchInput(BaseModel):
    """Input of `withdraw_batch_items`: a canceled task leaves its collector and its job."""

    model: str
    task_workflow_id: str
    job_workflow_ids: list[str] = Field(default_factory=list)


class CollectorInput(BaseModel):
    """Input of `BatchCollectorWorkflow` (also what it carries over a continue-as-new):
    items still waiting, and which job workflow recent tasks went to (for withdrawals)."""

    model: str
    settings: BatchSettings = Field(default_factory=BatchSettings)
    pending: list[BatchItem] = Field(default_factory=list)
    recent: dict[str, list[str]] = Field(default_factory=dict)  # task workflow id -> job workflow ids


class AddBatchItems(BaseModel):
    """Signal `add_items` of a collector (also its signal-with-start argument)."""

    items: list[BatchItem]
    settings: BatchSettings


class WithdrawTask(BaseModel):
    """Signal `withdraw` of a collector or a job workflow: drop this task's items."""

    task_workflow_id: str


class BatchJobInput(BaseModel):
    """Input of `GeminiBatchJobWorkflow`: the items of one Gemini batch job."""

    model: str
    items: list[BatchItem]
    settings: BatchSettings


class SubmitBatchInput(BaseModel):
    """Input of `submit_batch_job`. `display_name` is the job workflow's id: a retried submit
    finds the job it already created under that name instead of creating a second one."""

    display_name: str
    model: str
    items: list[BatchItem]


class BatchJobRef(BaseModel):
    """A Gemini batch job by name (`batches/<id>`)."""

    job_name: str


class BatchJobState(BaseModel):
    """Result of `get_batch_job_state`: the SDK's `JOB_STATE_*` name."""

    state: str


class StageBatchInput(BaseModel):
    """Input of `stage_batch_results`: the job and its items, in request order; `skip` holds
    the keys of items whose task was canceled (not staged)."""

    job_name: str
    items: list[BatchItem]
    skip: list[str] = Field(default_factory=list)


class BatchItemOutcome(BaseModel):
    """What became of one item: its staged image, or why there is none."""

    task_workflow_id: str
    variation_index: int
    generated: GeneratedImage | None = None
    error: TaskError | None = None


class StageBatchResult(BaseModel):
    """Result of `stage_batch_results`: one outcome per staged (not skipped) item."""

    outcomes: list[BatchItemOutcome]


class BatchAssigned(BaseModel):
    """Signal `batch_assigned` of a task: its variations `variation_indexes` are in this job
    workflow (and, once submitted, in this Gemini job)."""

    job_workflow_id: str
    variation_indexes: list[int]
    job_name: str | None = None


class BatchResults(BaseModel):
    """Signal `batch_results` of a task: outcomes of (some of) its variations."""

    job_name: str | None = None
    outcomes: list[BatchItemOutcome]

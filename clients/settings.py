"""One `Settings` object read by the API, the worker, the CLI and Alembic alike.

Every endpoint comes from the environment (or a `.env` file), so the same processes run on the
embedded local stack (`studio dev`) and against real services in production.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DEFAULT_PORTS = {"api": 8000, "temporal": 7233, "temporal_ui": 8233, "postgres": 5433, "s3": 9000, "gemini": 8765}


class Settings(BaseSettings):
    """Process configuration; env var names are the field names in upper case unless noted.

    Defaults point at the local stack `studio dev` starts on 127.0.0.1. In production set
    `STUDIO_ENV=production`: placeholder credentials are then refused at start-up.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    studio_env: Literal["development", "production"] = "development"
    state_dir: Path = Path(".studio")

    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:{DEV_DEFAULT_PORTS['postgres']}/studio"

    temporal_address: str = f"127.0.0.1:{DEV_DEFAULT_PORTS['temporal']}"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "render-tasks"
    # Temporal Cloud (or any server behind TLS): an API key (TLS is then on), or mTLS with a
    # client certificate and key (PEM file paths); TEMPORAL_TLS=true for TLS without either.
    temporal_api_key: str | None = None
    temporal_tls: bool = False
    temporal_tls_cert_file: str | None = None
    temporal_tls_key_file: str | None = None
    # Base URL of the Temporal Web UI, used to build each task's `temporal_ui_url`.
    temporal_ui_url: str = f"http://127.0.0.1:{DEV_DEFAULT_PORTS['temporal_ui']}"

    # Empty means AWS itself; the local stack points this at SeaweedFS.
    s3_endpoint_url: str | None = f"http://127.0.0.1:{DEV_DEFAULT_PORTS['s3']}"
    # Endpoint written into presigned URLs (handed to browsers and API clients), when it differs
    # from the one the app itself talks to: a proxy or CDN in production, the host-published port
    # in docker-compose (`http://s3:8333` resolves only inside the compose network). The
    # signature covers the host, so it cannot be rewritten afterwards. Empty: S3_ENDPOINT_URL.
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = "render-studio"
    aws_region: str = Field("us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    # Lifetime of the presigned download URLs the API hands out, in seconds.
    presign_ttl_s: int = Field(3600, ge=1, le=7 * 24 * 3600)

    # The real Gemini API is used when a key is set (SDK names: GEMINI_API_KEY, GOOGLE_API_KEY).
    gemini_api_key: str | None = Field(None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY"))
    # The SDK's own override of the API endpoint; `studio dev` sets it to the emulator.
    gemini_base_url: str | None = Field(None, validation_alias=AliasChoices("GOOGLE_GEMINI_BASE_URL"))
    # The emulator to use when no key is set (docker-compose); ignored when a key is set.
    gemini_emulator_url: str | None = None
    # google-genai >= 3.0 defaults to "v1"; image config needs v1beta (GEMINI.md).
    gemini_api_version: str = "v1beta"
    # Client-side timeout of one generateContent call, in seconds.
    gemini_timeout_s: float = Field(180.0, gt=0)

    # The model quota (Google's, per model and Cloud project), paced for the whole fleet through
    # each model queue's server-side dispatch rate (activities/quota_pacing.py).
    gemini_images_per_minute: float = Field(60.0, gt=0)
    # Per-model overrides of it (Google's quotas differ by model), as JSON in the environment:
    # GEMINI_IMAGES_PER_MINUTE_BY_MODEL='{"gemini-2.5-flash-image": 500}'. Images per minute.
    gemini_images_per_minute_by_model: dict[str, float] = Field(default_factory=dict)
    # Model calls one worker runs at once (per model queue); the fleet's is this x workers.
    gemini_max_concurrent_calls: int = Field(16, ge=1)
    # Resident memory one worker process may use, in MB: model calls (per model queue) are capped
    # further so that their images fit (activities/memory_budget.py, docs/decisions.md).
    worker_memory_budget_mb: int = Field(1536, ge=64)
    # Memory one in-flight 4K model answer holds in a worker while it is parsed, verified and
    # staged, in MB (measured ~50); smaller images cost less in proportion to their pixels.
    worker_image_memory_mb: int = Field(64, ge=1)
    # Workflow tasks and activities of the main task queue one worker runs at once. Kept small on
    # purpose: work the worker has taken waits in its own first-come queue (for a CPU, a database
    # connection), while work left on the server is dispatched by priority and fairness key, so a
    # deep worker-side queue would let one project's burst delay another's task by seconds.
    worker_max_concurrent_workflow_tasks: int = Field(8, ge=2)
    worker_max_concurrent_activities: int = Field(16, ge=1)

    # Overall deadline of one task (all retries included), in seconds.
    task_deadline_s: float = Field(900.0, gt=0)

    # Batch mode (issue 12): a model's collector gathers batch tasks' variations for up to
    # BATCH_GATHER_S seconds, or until BATCH_MAX_ITEMS wait, then submits one Gemini batch job;
    # the job is read after BATCH_POLL_INITIAL_S, then 1.5x longer each time up to BATCH_POLL_MAX_S.
    batch_gather_s: float = Field(60.0, ge=0)
    batch_max_items: int = Field(100, ge=1, le=1000)
    batch_poll_initial_s: float = Field(30.0, gt=0)
    batch_poll_max_s: float = Field(600.0, gt=0)
    # Jobs one collector run starts before continuing as new (keeps its history bounded).
    batch_collector_jobs_per_run: int = Field(50, ge=1)
    # The longest a batch task waits for its variations' outcomes, in seconds (72 h: Google ends
    # a job within 48 h; this ends a wait no job will answer, e.g. a job workflow terminated by
    # hand, as `batch_expired`).
    batch_wait_max_s: float = Field(72 * 3600.0, gt=0)
    # A finished job's answers come back inline (every image base64 in one JSON document, ~56 MB
    # per 4K image: the output is there twice) and a worker reads them whole: a job takes items
    # until their estimated answers reach this many MB (256: 4 images at 4K, 19 at 2K, 76 at 1K).
    batch_max_output_mb: int = Field(256, ge=1)

    # Traces: none | console | otlp (OTLP endpoint from OTEL_EXPORTER_OTLP_ENDPOINT).
    otel_traces_exporter: Literal["none", "console", "otlp"] = "none"
    # host:port where a worker serves Prometheus metrics; empty disables them.
    worker_metrics_bind: str = "127.0.0.1:9464"
    # Whether render_queue_wait_seconds carries the project id (one histogram per project and
    # model: turn it off when projects number in the thousands; docs/operations.md).
    metrics_project_label: bool = True
    log_format: Literal["json", "text"] = "json"
    # Worker Versioning (docs/operations.md): when both are set, the worker joins this Worker
    # Deployment version and new workflows are pinned to the version they started on.
    worker_deployment_name: str | None = None
    worker_build_id: str | None = None

    # Reviews: how long a task waits for the winner (seconds), and what decides on expiry.
    review_timeout_s: int = Field(3 * 24 * 3600, ge=5)
    review_expiry_action: Literal["approve_first", "archive_all", "keep_drafts"] = "approve_first"

    # Limits (checked before any workflow starts).
    # Task creations per user: a token bucket of TASK_CREATE_BURST, refilled at this rate, so a
    # 1,000-task catalogue job goes through at once and a runaway client is still bounded.
    task_create_rate_per_minute: int = Field(600, ge=1)
    task_create_burst: int = Field(1000, ge=1)
    daily_image_quota: int = Field(1000, ge=0)  # per project, unless the project sets its own
    # The model catalogue (models, parameters, prices): kernel/models.yaml unless set. Read by
    # kernel.catalog from the process environment when it is first imported (API, worker,
    # emulator), so it must be in the environment, not only in .env.
    model_catalog_file: str | None = None
    max_body_bytes: int = Field(65536, ge=1024)
    # Failed API key lookups allowed per minute from one client address / against one key
    # prefix before further attempts get 429 without a database query (api/auth_throttle.py).
    auth_failures_per_address_per_minute: int = Field(30, ge=1)
    auth_failures_per_key_prefix_per_minute: int = Field(10, ge=1)
    # Uploads (issue 11): the largest file, in bytes, and image, in pixels (width x height), the
    # API accepts, and how long a presigned PUT URL stays valid, in seconds.
    upload_max_bytes: int = Field(25 * 1024 * 1024, ge=1)
    upload_max_pixels: int = Field(50_000_000, ge=1)
    upload_url_ttl_s: int = Field(900, ge=1, le=7 * 24 * 3600)
    # Web studio (issue 11): how long a browser stays signed in, and how long a one-time sign-in
    # link (`studio dev`, `studio sign-in-link`) stays valid, in seconds.
    web_session_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    sign_in_link_ttl_s: int = Field(600, ge=10, le=24 * 3600)

    # Exports (issue 13): images per ZIP export, and per contact sheet or video (each image is
    # decoded for those); the presigned download link lives PRESIGN_TTL_S like an asset's.
    export_max_assets: int = Field(500, ge=1, le=10_000)
    export_max_media_assets: int = Field(200, ge=1, le=1000)
    # Housekeeping on Temporal Schedules (docs/operations.md), created by `studio worker` and
    # `studio migrate --schedules`: export files are deleted EXPORT_RETENTION_DAYS after they
    # were finished; Idempotency-Keys are forgotten IDEMPOTENCY_KEY_TTL_DAYS after their task
    # was created (a retried POST after that is a new task); staged objects older than
    # STAGING_SWEEP_MIN_AGE_S seconds whose task is not running are swept (a failed task's
    # staged images stay reusable by POST /tasks/{id}/retry until then). Each job runs every
    # HOUSEKEEPING_INTERVAL_S seconds; HOUSEKEEPING_DRY_RUN=true only reports.
    export_retention_days: float = Field(7.0, gt=0)
    idempotency_key_ttl_days: float = Field(30.0, gt=0)
    staging_sweep_min_age_s: int = Field(3 * 24 * 3600, ge=0)
    # Uploads never completed UPLOAD_ABANDON_AFTER_S seconds after they were started (and whose
    # PUT URL has expired) are deleted with their object, if one was PUT; completed uploads and
    # their assets are never touched.
    upload_abandon_after_s: int = Field(24 * 3600, ge=0)
    housekeeping_interval_s: int = Field(3600, ge=60)
    housekeeping_dry_run: bool = False

    api_host: str = "127.0.0.1"
    api_port: int = DEV_DEFAULT_PORTS["api"]

    @field_validator(
        "s3_endpoint_url",
        "s3_public_endpoint_url",
        "gemini_base_url",
        "gemini_api_key",
        "gemini_emulator_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _catalogue_is_the_one_loaded(self) -> Settings:
        from kernel.catalog import CATALOG_FILE

        if self.model_catalog_file and Path(self.model_catalog_file).resolve() != CATALOG_FILE.resolve():
            raise ValueError(
                f"MODEL_CATALOG_FILE={self.model_catalog_file} is not the catalogue this process loaded "
                f"({CATALOG_FILE}): set it in the environment, not only in .env"
            )
        return self

    @model_validator(mode="after")
    def _quotas_name_known_models(self) -> Settings:
        from kernel.catalog import MODELS

        unknown = sorted(set(self.gemini_images_per_minute_by_model) - set(MODELS))
        if unknown:
            raise ValueError(f"GEMINI_IMAGES_PER_MINUTE_BY_MODEL names unknown models {unknown}; known: {list(MODELS)}")
        if any(rate <= 0 for rate in self.gemini_images_per_minute_by_model.values()):
            raise ValueError("GEMINI_IMAGES_PER_MINUTE_BY_MODEL: every quota must be > 0 images per minute")
        return self

    def images_per_minute(self, model: str) -> float:
        """`model`'s quota in images per minute: its GEMINI_IMAGES_PER_MINUTE_BY_MODEL entry, else
        GEMINI_IMAGES_PER_MINUTE."""
        return self.gemini_images_per_minute_by_model.get(model, self.gemini_images_per_minute)

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.studio_env == "production":
            if self.aws_access_key_id in ("test", "testing") or self.aws_secret_access_key in ("test", "testing"):
                raise ValueError("placeholder AWS credentials are not allowed when STUDIO_ENV=production")
            if "postgres@127.0.0.1" in self.database_url:
                raise ValueError("set DATABASE_URL when STUDIO_ENV=production")
            if self.gemini_api_key is None and self.effective_gemini_base_url is None:
                raise ValueError("set GEMINI_API_KEY (or GOOGLE_GEMINI_BASE_URL) when STUDIO_ENV=production")
        return self

    @property
    def effective_gemini_base_url(self) -> str | None:
        """Where the worker sends model calls: GOOGLE_GEMINI_BASE_URL, else the emulator when
        no key is set, else None (Google's endpoint)."""
        if self.gemini_base_url:
            return self.gemini_base_url
        return self.gemini_emulator_url if self.gemini_api_key is None else None

    @property
    def uses_gemini_emulator(self) -> bool:
        """True when no API key is configured: the worker then talks to the local emulator."""
        return self.gemini_api_key is None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

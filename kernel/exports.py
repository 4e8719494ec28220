"""Exports and housekeeping (issue 13): what crosses Temporal, and the S3 keys of export files.

One input and one result model per workflow and activity, as in `kernel.payloads`. Bytes never
appear here: export files are written to S3 by the activities and named by key. The heartbeat
details of the export activities (`ZipCheckpoint`, `ExportProgress`) carry `done` and `total`,
which the API reads from the pending activity to show progress without a live query.
"""

from __future__ import annotations

import re
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportFormat = Literal["zip", "contact_sheet", "mp4"]
HousekeepingJob = Literal["expire_exports", "expire_idempotency_keys", "sweep_staging", "sweep_uploads"]

EXPORT_EXTENSIONS: dict[str, str] = {"zip": "zip", "contact_sheet": "png", "mp4": "mp4"}
EXPORT_CONTENT_TYPES: dict[str, str] = {"zip": "application/zip", "contact_sheet": "image/png", "mp4": "video/mp4"}
EXPORTS_PREFIX = "exports/"

# The largest MP4 the API accepts, in pixel-frames: images x frames per image x width x height
# (pixels). x264 (preset veryfast) with Pillow's letterboxing and crossfade blends encodes about
# 35-95 million pixel-frames a second on one core of a 2-core worker (measured: 35 with a
# crossfade into a noisy 1080p image, 95 for still 1080p frames), so 12e9 is at most ~6 min of
# encoding (10 min at a pessimistic 20 M/s): well under the build's hour (workflows/export.py).
# It allows e.g. 200 images at the defaults (720p, 24 fps, 2 s: 8.8e9) or 3 min of 1080p30.
MP4_MAX_PIXEL_FRAMES = 12_000_000_000

_EXPORT_IDEMPOTENCY_NAMESPACE = uuid.UUID("0b6f7a52-93c1-4d5e-8f0a-6c2d9e4b1a73")


def export_key(project_id: str, export_id: str, fmt: str) -> str:
    """`exports/<project>/<export>.<zip|png|mp4>`: the one object an export writes."""
    return f"{EXPORTS_PREFIX}{project_id}/{export_id}.{EXPORT_EXTENSIONS[fmt]}"


def export_id_for_idempotency_key(owner_id: uuid.UUID, key: str, generation: int = 0) -> uuid.UUID:
    """The export id a user's Idempotency-Key maps to (UUIDv5 of `<owner>:<key>`, plus `#<n>`
    for the n-th use of a key after earlier ones expired: see `kernel.contract`)."""
    suffix = f"#{generation}" if generation else ""
    return uuid.uuid5(_EXPORT_IDEMPOTENCY_NAMESPACE, f"{owner_id}:{key}{suffix}")


def mp4_frames_per_image(seconds_per_image: float, fps: int) -> int:
    """Frames each image of an MP4 holds: `round(seconds_per_image * fps)`, at least 1."""
    return max(1, round(seconds_per_image * fps))


def mp4_pixel_frames(count: int, options: ExportOptions) -> int:
    """The encoding work of an MP4 of `count` images: frames x width x height (pixel-frames),
    compared with MP4_MAX_PIXEL_FRAMES."""
    return count * mp4_frames_per_image(options.seconds_per_image, options.fps) * options.width * options.height


def export_error_code(error_type: str) -> str:
    """The API's code for an ApplicationError type: `ExportSourceMissing` -> `export_source_missing`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", error_type).lower()


class ExportOptions(BaseModel):
    """Options of an export; each format reads its own and ignores the others.

    contact_sheet: `columns` (default: the square root of the count, rounded up), `thumb_px`
    (the long side of each cell's image, pixels). mp4: `width` x `height` (pixels, even),
    `fps` (frames per second), `seconds_per_image` (how long each image is shown, seconds),
    `crossfade_s` (seconds of each transition, 0 for cuts; shorter than `seconds_per_image`).
    """

    model_config = ConfigDict(extra="forbid")

    columns: int | None = Field(None, ge=1, le=20)
    thumb_px: int = Field(256, ge=64, le=512)
    width: int = Field(1280, ge=64, le=3840, multiple_of=2)
    height: int = Field(720, ge=64, le=2160, multiple_of=2)
    fps: int = Field(24, ge=1, le=60)
    seconds_per_image: float = Field(2.0, gt=0, le=30)
    crossfade_s: float = Field(0.0, ge=0, le=10)


class ExportInput(BaseModel):
    """The whole export: which assets (in this order), in which format, with which options."""

    export_id: str
    project_id: str
    owner_id: str
    format: ExportFormat
    asset_ids: list[str]
    options: ExportOptions = Field(default_factory=ExportOptions)
    idempotency_key: str | None = None
    request_hash: str | None = None
    # The build's heartbeat timeout (seconds); None: EXPORT_HEARTBEAT (workflows/export.py).
    # Not set by the API: tests (and operators starting a workflow by hand) shorten it.
    build_heartbeat_timeout_s: float | None = None


class BuildExportInput(BaseModel):
    """What an export activity builds and where it writes it (`key`, under `exports/`)."""

    export_id: str
    project_id: str
    format: ExportFormat
    asset_ids: list[str]
    options: ExportOptions
    key: str


class ExportFile(BaseModel):
    """The finished export file in S3: size in bytes, SHA-256 (hex) of its bytes, how many
    images it holds, and at which image a resumed build continued (0: built in one go)."""

    key: str
    content_type: str
    size: int
    sha256: str
    images: int
    resumed_at_image: int = 0


class ExportProgress(BaseModel):
    """Heartbeat details of the contact-sheet and video activities: images done of `total`."""

    done: int = 0
    total: int = 0


class ZipPart(BaseModel):
    """One uploaded part of the multipart upload."""

    number: int
    etag: str


class ZipEntry(BaseModel):
    """A finished member of the archive, as its central-directory record needs it."""

    name: str
    offset: int
    crc: int
    size: int
    date_time: tuple[int, int, int, int, int, int]


class ZipCheckpoint(BaseModel):
    """Heartbeat details of `build_zip_export`, recorded after each part that ends on a member
    boundary: the multipart upload, its parts, the members written and the next image; a
    retried attempt continues from here (a stale checkpoint only means more work redone)."""

    upload_id: str
    parts: list[ZipPart] = Field(default_factory=list)
    entries: list[ZipEntry] = Field(default_factory=list)
    # Bytes of the archive in `parts`, and the image the next attempt starts with (0-based).
    offset: int = 0
    resume_at: int = 0
    # Progress: images written so far (may be past `resume_at`), of `total`.
    done: int = 0
    total: int = 0


class RecordExportInput(BaseModel):
    """The finished file of export `export_id`, for its row; `export` writes the row first if
    the API's commit of it was lost."""

    export_id: str
    file: ExportFile
    export: ExportInput | None = None


ExportOutcome = Literal["failed", "canceled"]


class RecordExportOutcomeInput(BaseModel):
    """How export `export_id` ended without a file (`failed` with the build's error code and
    message, or `canceled`), for its row; `export` writes the row first if the API's commit of
    it was lost. The row keeps it after Temporal's retention drops the workflow."""

    export_id: str
    status: ExportOutcome
    error_code: str
    error_message: str
    export: ExportInput | None = None


class DiscardExportInput(BaseModel):
    """The object (and any unfinished multipart upload) of a canceled or failed export."""

    key: str


class HousekeepingInput(BaseModel):
    """One housekeeping run. The thresholds come from settings when the schedule is created
    (docs/operations.md); `dry_run` reports what would be removed and removes nothing."""

    job: HousekeepingJob
    dry_run: bool = False
    export_retention_days: float = 7.0
    idempotency_key_ttl_days: float = 30.0
    # A staged object younger than this is never swept (seconds), whatever its workflow says.
    staging_min_age_s: float = 3600.0
    # An upload not completed this long after it was started (seconds), and whose PUT URL has
    # expired, is abandoned: its row and its object are deleted.
    upload_abandon_after_s: float = 86400.0


class HousekeepingReport(BaseModel):
    """What one run removed (or, dry, would remove): a count and up to 50 of the names."""

    job: HousekeepingJob
    dry_run: bool
    removed: int = 0
    examples: list[str] = Field(default_factory=list)

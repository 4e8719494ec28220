"""S3 key layout. Keys are deterministic per task and variation, so every retry lands on the
same object and no retry can leave a second copy behind."""

from __future__ import annotations

MIME_EXTENSION = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def staging_key(project_id: str, task_id: str, variation_index: int) -> str:
    """Where `generate_image` stages a variation's raw model output."""
    return f"staging/projects/{project_id}/tasks/{task_id}/{variation_index}"


def final_key(project_id: str, task_id: str, variation_index: int, mime: str) -> str:
    """`projects/<project>/tasks/<task>/<variation>.<ext>`: the published image."""
    return f"projects/{project_id}/tasks/{task_id}/{variation_index}.{MIME_EXTENSION.get(mime, 'bin')}"


def task_prefixes(project_id: str, task_id: str) -> tuple[str, str]:
    """The key prefixes holding a task's staged and published objects."""
    return f"staging/projects/{project_id}/tasks/{task_id}/", f"projects/{project_id}/tasks/{task_id}/"


def thumbnail_key(image_key: str) -> str:
    """The WebP thumbnail beside an image: its key with the extension (if any) replaced by
    `.thumb.webp` (`projects/p/tasks/t/0.png` -> `projects/p/tasks/t/0.thumb.webp`; a staging
    key `staging/.../0` -> `staging/.../0.thumb.webp`). Under the same prefix as the image, so
    whatever deletes a task's prefixes deletes its thumbnails too."""
    head, _, name = image_key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{head}/{stem}.thumb.webp" if head else f"{stem}.thumb.webp"


def upload_key(project_id: str, upload_id: str, mime: str) -> str:
    """`projects/<project>/uploads/<upload>.<ext>`: a user's uploaded image (presigned PUT)."""
    return f"projects/{project_id}/uploads/{upload_id}.{MIME_EXTENSION.get(mime, 'bin')}"


def uploaded_asset_key(project_id: str, upload_id: str, mime: str) -> str:
    """`projects/<project>/assets/<upload>.<ext>`: a verified upload's own copy, the asset's
    image. No presigned PUT URL ever names it (those target `upload_key`), and it is keyed by
    the upload so a retried completion lands on the same object."""
    return f"projects/{project_id}/assets/{upload_id}.{MIME_EXTENSION.get(mime, 'bin')}"

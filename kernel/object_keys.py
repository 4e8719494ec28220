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

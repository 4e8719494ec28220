"""A small typed HTTP client of the Render Studio API (httpx, synchronous: one command at a time).

Every error of the API comes back as `ApiError` with the envelope's `code` and `message`; a
server that cannot be reached as `Unreachable`. Nothing here prints.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEV_KEY_FILE = Path(".studio") / "dev-api-key"
TIMEOUT_S = 30.0
CREATE_ATTEMPTS = 3  # a task creation lost in transit is sent again with the same Idempotency-Key


class ApiError(Exception):
    """The API answered with an error: HTTP `status`, the envelope's `code` and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Unreachable(Exception):
    """The API (or the S3 endpoint of a presigned URL) could not be reached at all."""


class MissingKey(Exception):
    """No API key: neither STUDIO_API_KEY nor `.studio/dev-api-key` in the current directory."""


@dataclass(frozen=True)
class ClientConfig:
    """Where the API is (`api_url`, no trailing slash) and the key to send."""

    api_url: str
    api_key: str

    @classmethod
    def from_env(cls, cwd: Path | None = None) -> ClientConfig:
        """STUDIO_API_URL and STUDIO_API_KEY, the key defaulting to `<cwd>/.studio/dev-api-key`.

        Raises MissingKey when there is no key."""
        url = os.environ.get("STUDIO_API_URL", "").strip() or DEFAULT_API_URL
        key = os.environ.get("STUDIO_API_KEY", "").strip()
        if not key:
            key_file = (cwd or Path.cwd()) / DEV_KEY_FILE
            try:
                key = key_file.read_text().strip()
            except OSError:
                key = ""
        if not key:
            raise MissingKey(f"no API key: set STUDIO_API_KEY, or run `make dev` here (it writes {DEV_KEY_FILE})")
        return cls(url.rstrip("/"), key)


def _error_of(response: httpx.Response) -> ApiError:
    """The API's error envelope `{"error": {"code", "message"}}`, or the bare HTTP status."""
    try:
        body = response.json()
        error = body["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, f"http_{response.status_code}", response.text[:200] or "no body")


class StudioApi:
    """The `/api/v1` endpoints the commands use. Use as a context manager (closes the pool)."""

    def __init__(self, config: ClientConfig, timeout_s: float = TIMEOUT_S) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=f"{config.api_url}/api/v1",
            headers={"Authorization": f"Bearer {config.api_key}"},
            timeout=timeout_s,
        )
        # Presigned S3 URLs carry their own signature: no Authorization header of ours.
        self._s3 = httpx.Client(timeout=httpx.Timeout(timeout_s, read=120.0))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        self._s3.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON body. Raises ApiError (>= 400) or Unreachable."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the Studio API at {self.config.api_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error_of(response)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (`{items, next_cursor}`)."""
        cursor: str | None = None
        while True:
            page = self._call("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # Projects -------------------------------------------------------------------------------

    def project(self, project_id: str) -> dict[str, Any]:
        """One of the caller's projects; ApiError 404 when it is not theirs or does not exist."""
        return dict(self._call("GET", f"/projects/{project_id}"))

    def find_project(self, name: str) -> dict[str, Any] | None:
        """The caller's newest project named exactly `name`, or None."""
        return next((p for p in self._pages("/projects", {"limit": 100}) if p["name"] == name), None)

    def create_project(self, name: str) -> dict[str, Any]:
        """A new project named `name` (201)."""
        return dict(self._call("POST", "/projects", json={"name": name}))

    # Tasks ----------------------------------------------------------------------------------

    def create_task(self, project_id: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a task (202, or 200 for a key already used). A request lost in transit or
        answered 503 is sent again with the same `idempotency_key` (so it never makes a second
        task), up to CREATE_ATTEMPTS times, 1 s apart."""
        headers = {"Idempotency-Key": idempotency_key}
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return dict(self._call("POST", f"/projects/{project_id}/tasks", json=body, headers=headers))
            except (Unreachable, ApiError) as exc:
                retryable = isinstance(exc, Unreachable) or exc.status == 503
                if not retryable or attempt == CREATE_ATTEMPTS:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def task(self, task_id: str) -> dict[str, Any]:
        """One task with its live status."""
        return dict(self._call("GET", f"/tasks/{task_id}"))

    def tasks(self, project_id: str, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The project's newest `limit` tasks (optionally with `status`)."""
        params: dict[str, Any] = {"limit": min(limit, 100)}
        if status:
            params["status"] = status
        items: list[dict[str, Any]] = []
        for item in self._pages(f"/projects/{project_id}/tasks", params):
            items.append(item)
            if len(items) >= limit:
                break
        return items

    def task_assets(self, project_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task's assets (each with a presigned `url` and its `sha256`), by variation."""
        assets = list(self._pages(f"/projects/{project_id}/rendered-assets", {"task_id": task_id, "limit": 100}))
        return sorted(assets, key=lambda a: a.get("variation_index") or 0)

    def events(self, task_id: str, last_event_id: str | None = None) -> Iterator[tuple[str, str, str]]:
        """The task's Server-Sent Events as (event, data, id) until the server closes the stream.

        Raises ApiError when the stream is refused, Unreachable when the connection fails."""
        from httpx_sse import SSEError, connect_sse

        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            with connect_sse(
                self._http, "GET", f"/tasks/{task_id}/events", headers=headers, timeout=httpx.Timeout(30.0, read=60.0)
            ) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise _error_of(source.response)
                for event in source.iter_sse():
                    yield event.event, event.data, event.id
        except (httpx.TransportError, SSEError) as exc:
            raise Unreachable(f"the task's event stream broke: {exc}") from exc

    # Uploads --------------------------------------------------------------------------------

    def upload(self, project_id: str, path: Path, content_type: str) -> dict[str, Any]:
        """Upload the image at `path` as an asset of the project: presigned PUT straight to S3,
        then complete. The asset JSON. Raises ApiError (e.g. 422 `invalid_upload`)."""
        data = path.read_bytes()
        started = self._call(
            "POST",
            f"/projects/{project_id}/uploads",
            json={"filename": path.name, "content_type": content_type, "byte_size": len(data)},
        )
        try:
            put = self._s3.put(started["put_url"], content=data, headers=started["put_headers"])
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach S3 to upload {path}: {exc}") from exc
        if put.status_code >= 300:
            raise ApiError(put.status_code, "upload_failed", f"S3 refused the upload of {path}: {put.text[:200]}")
        return dict(self._call("POST", f"/uploads/{started['id']}/complete"))

    # Downloads ------------------------------------------------------------------------------

    def download(self, url: str, target: Path) -> int:
        """Stream a presigned URL's bytes to `target` (written whole or not at all); the size in
        bytes. Raises ApiError when S3 answers an error, Unreachable when it cannot be reached."""
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with self._s3.stream("GET", url) as response:
                if response.status_code >= 300:
                    response.read()
                    raise ApiError(response.status_code, "download_failed", f"S3 answered {response.status_code}")
                size = 0
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        size += len(chunk)
            partial.replace(target)
            return size
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot download {target.name}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)

"""S3 access shared by the worker and the API (aioboto3), named in S3's own terms.

One long-lived client per process (`ObjectStore.open`), closed on shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from clients.settings import Settings

# Errors that mean "S3 did not answer" (refused, reset, timed out), not "S3 said no".
S3_CONNECTION_ERRORS = (BotoConnectionError, HTTPClientError)


class ObjectStoreUnavailable(RuntimeError):
    """S3 did not answer (connection refused, reset, 5xx) within the time allowed."""


@dataclass(frozen=True)
class StoredObject:
    """What HEAD returns about an object: size in bytes, content type, user metadata."""

    size: int
    content_type: str
    metadata: dict[str, str]


class ObjectStore:
    """A bucket behind one aioboto3 S3 client."""

    def __init__(self, client: Any, bucket: str, presign_client: Any | None = None) -> None:
        self._client = client
        # The client that signs presigned URLs (GET and PUT): one for S3_PUBLIC_ENDPOINT_URL when
        # that is set, else the same client. Signing is local: it never sends a request.
        self._presign_client = presign_client if presign_client is not None else client
        self.bucket = bucket

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[ObjectStore]:
        """Yield a store for `settings.s3_bucket` at `settings.s3_endpoint_url` (None: AWS);
        presigned URLs are signed for `settings.s3_public_endpoint_url` when that is set."""
        session = aioboto3.Session(
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            region_name=settings.aws_region,
        )
        # Short timeouts and no botocore retries: activities own retries (one layer, one policy).
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}, signature_version="s3v4")
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(
                session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
            )
            presign_client = None
            public = settings.s3_public_endpoint_url
            if public and public != settings.s3_endpoint_url:
                presign_client = await stack.enter_async_context(
                    session.client("s3", endpoint_url=public, config=config)
                )
            yield cls(client, settings.s3_bucket, presign_client)

    async def put(
        self, key: str, body: bytes, content_type: str, metadata: dict[str, str], *, sha256: str | None = None
    ) -> None:
        """PUT `body` at `key`; raises botocore ClientError / EndpointConnectionError on failure.

        `sha256` (hex digest of `body`): sent as the object's SHA-256 checksum, so S3 refuses the
        PUT (BadDigest) when the bytes it received are not the ones that were hashed.
        """
        checksum = {"ChecksumSHA256": _b64(sha256)} if sha256 else {}
        await self._client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata, **checksum
        )

    async def copy(
        self, source_key: str, key: str, *, content_type: str | None = None, metadata: dict[str, str] | None = None
    ) -> str | None:
        """Server-side CopyObject of `source_key` to `key`: the bytes never leave S3.

        The copy keeps the source's content type and metadata, or gets `content_type` and
        `metadata` instead when `metadata` is given. S3 is asked to compute the SHA-256 of the
        bytes it writes (`ChecksumAlgorithm`), or else the copy's stored SHA-256 (HEAD with
        checksum mode); returns it as hex, or None when the store reports neither (an
        S3-compatible store without checksums, or a source PUT without one). Raises
        ClientError (NoSuchKey) when the source is missing.
        """
        directive: dict[str, Any] = {}
        if metadata is not None:
            directive = {"MetadataDirective": "REPLACE", "Metadata": metadata}
            if content_type:
                directive["ContentType"] = content_type
        response = await self._client.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source_key},
            ChecksumAlgorithm="SHA256",
            **directive,
        )
        checksum = response.get("CopyObjectResult", {}).get("ChecksumSHA256")
        if not checksum:
            # SeaweedFS (the local stack) reports no checksum on a copy, but keeps the one it
            # verified when the source was PUT with `x-amz-checksum-sha256`: ask for it.
            head = await self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            checksum = head.get("ChecksumSHA256")
        return base64.b64decode(checksum).hex() if checksum else None

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises ClientError (NoSuchKey) when it is missing."""
        response = await self._client.get_object(Bucket=self.bucket, Key=key)
        async with response["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def get_at_most(self, key: str, max_bytes: int) -> bytes | None:
        """The first `max_bytes` bytes (at least 1) of the object, or all of it when it is
        smaller: a range GET, so an object that grew since it was last looked at is never read
        into memory whole. Ask for one byte more than you accept to tell "too big" apart.
        Returns None when the object does not exist (an empty object gives b"")."""
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code == "InvalidRange":  # S3 answers 416 for any range of an empty object
                return b""
            raise
        body = response["Body"]
        chunks: list[bytes] = []
        size = 0
        try:
            # `read(n)` returns what the connection has buffered, up to n bytes (aiohttp), not n:
            # read until the end or max_bytes (a store that ignores Range stops here anyway).
            while size < max_bytes and (chunk := await body.read(max_bytes - size)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            body.close()
        return b"".join(chunks)

    async def head(self, key: str) -> StoredObject | None:
        """Size, type and metadata of `key`, or None when it does not exist."""
        try:
            response = await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(
            size=int(response["ContentLength"]),
            content_type=str(response.get("ContentType", "")),
            metadata=dict(response.get("Metadata", {})),
        )

    async def delete(self, key: str) -> None:
        """Delete `key` (S3 treats a missing key as success)."""
        await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (all pages)."""
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    async def iter_chunks(self, key: str, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most `chunk_bytes` (a streaming GET: the whole
        object is never in memory). Raises ClientError (NoSuchKey) when it is missing."""
        response = await self._client.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_bytes):
                yield chunk
        finally:
            body.close()

    async def start_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload at `key`; returns its upload id (issue 13: export files)."""
        response = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return str(response["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Upload part `number` (1-10000; at least 5 MiB except the last) and return its ETag.
        Uploading a number again replaces that part."""
        response = await self._client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return str(response["ETag"])

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the upload from `parts` ((number, ETag) in order); parts not listed are
        dropped by S3."""
        await self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    async def abort_multipart_uploads(self, key: str) -> int:
        """Abort every unfinished multipart upload at `key` (its parts are freed); returns how
        many there were."""
        response = await self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        uploads = [u for u in response.get("Uploads", []) if u.get("Key") == key]
        for upload in uploads:
            with contextlib.suppress(ClientError):  # finished or aborted meanwhile
                await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
        return len(uploads)

    async def list_object_pages(
        self, prefix: str, page_keys: int = 1000, limit: int | None = None
    ) -> AsyncIterator[list[tuple[str, float, int]]]:
        """Pages of (key, last-modified as a UNIX time in seconds, size in bytes) of the objects
        under `prefix`, in key order: one ListObjectsV2 request per page, each of at most
        `page_keys` keys (1-1000; S3 answers at most 1000), the next asked for with the
        previous answer's continuation token, so one page at a time is in memory. Stops after
        `limit` keys in all when given. Raises ClientError or a connection error when a
        request fails (the pages already yielded stand)."""
        token: str | None = None
        listed = 0
        while limit is None or listed < limit:
            max_keys = page_keys if limit is None else min(page_keys, limit - listed)
            more = {"ContinuationToken": token} if token else {}
            answer = await self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=max_keys, **more)
            page = [
                (obj["Key"], obj["LastModified"].timestamp(), int(obj["Size"])) for obj in answer.get("Contents", [])
            ]
            listed += len(page)
            if page:
                yield page
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return

    async def presigned_get_url(self, key: str, ttl_s: int, download_name: str | None = None) -> str:
        """A presigned GET URL for `key`, valid for `ttl_s` seconds (signed locally, no request).

        With `download_name` (a plain file name: no quotes, no path) S3 answers
        `Content-Disposition: attachment; filename="<download_name>"`, so a browser saves the
        file instead of showing it."""
        params = {"Bucket": self.bucket, "Key": key}
        if download_name is not None:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        url: str = await self._presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_s)
        return url

    async def presigned_put_url(self, key: str, content_type: str, ttl_s: int) -> str:
        """A presigned PUT URL for `key`, valid for `ttl_s` seconds (signed locally, no request).

        The content type is signed: the client must send exactly `Content-Type: <content_type>`
        (S3 refuses the PUT otherwise, with SignatureDoesNotMatch)."""
        url: str = await self._presign_client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type}, ExpiresIn=ttl_s
        )
        return url

    async def ensure_bucket(self, region: str, wait_s: float = 60.0) -> bool:
        """Create the bucket when it does not exist; returns True when it created it.

        Waits up to `wait_s` seconds for an S3 endpoint that is still starting (connection
        refused or reset, timeouts, 5xx answers), retrying with a backoff of 0.5 s doubling to
        5 s; then raises ObjectStoreUnavailable naming the endpoint and the last error. Any
        other refusal (403 for a wrong key, ...) raises botocore's ClientError at once.
        """
        deadline = time.monotonic() + wait_s
        delay = 0.5
        while True:
            try:
                return await self._create_bucket_if_missing(region)
            except (*S3_CONNECTION_ERRORS, ClientError) as exc:
                if isinstance(exc, ClientError) and not _is_server_error(exc):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    endpoint = self._client.meta.endpoint_url
                    raise ObjectStoreUnavailable(
                        f"S3 at {endpoint} did not answer within {wait_s:.0f} s: {exc}"
                    ) from exc
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 5.0)

    async def _create_bucket_if_missing(self, region: str) -> bool:
        try:
            await self.bucket_reachable()
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        await self._client.create_bucket(Bucket=self.bucket, **extra)
        return True

    async def bucket_reachable(self) -> None:
        """HEAD the bucket; raises when S3 or the bucket cannot be reached."""
        await self._client.head_bucket(Bucket=self.bucket)


def _is_server_error(exc: ClientError) -> bool:
    """True for a 5xx answer (a store that is up but not ready yet, or overloaded)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(status, int) and status >= 500


def _b64(sha256_hex: str) -> str:
    """S3's form of a SHA-256 checksum: the digest in base64."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")

"""An S3 endpoint from moto's server, bound to loopback, with the bucket created.

moto keeps objects in memory: restarting it loses them. It does not verify checksums or
presigned-URL expiry (test those at unit level).
"""

from __future__ import annotations

import logging

import boto3
from moto.server import ThreadedMotoServer

from studio.localstack.ports import wait_for_port


class MotoS3:
    """moto's threaded server on `host:port`."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)

    @property
    def url(self) -> str:
        """Endpoint URL for boto clients."""
        return f"http://{self.host}:{self.port}"

    def start(self, bucket: str, region: str) -> None:
        """Start serving and create `bucket` (idempotent)."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per S3 call
        self._server.start()
        wait_for_port(self.host, self.port, 10, "moto S3")
        client = boto3.client(
            "s3", endpoint_url=self.url, region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
        )
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            if region == "us-east-1":
                client.create_bucket(Bucket=bucket)
            else:
                client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    def stop(self) -> None:
        """Stop serving (objects are lost)."""
        self._server.stop()

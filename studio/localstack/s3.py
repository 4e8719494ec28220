"""An S3 endpoint from moto's server, in its own process bound to loopback, with the bucket created.

Its own process, not a thread of the caller: serving a 20 MB PUT or GET in moto is Python work
that holds the GIL, which stalled the event loop of an API or worker sharing the process.
The child is this file run as a script (`python .../s3.py --port N --parent-pid P`, which
imports nothing of ours, so it starts in about a second); it exits on SIGTERM/SIGINT and by
itself when the process that started it is gone, so a killed `studio dev` or test run does not
leave it behind. moto keeps objects in memory: restarting it loses them. It does not verify
PUT checksums or presigned-URL expiry (test those at unit level); it does compute the SHA-256 of
a CopyObject asked for one, which `publish_image` relies on.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

PARENT_POLL_S = 1.0


class MotoS3:
    """moto's threaded server on `host:port`, in a child process (log to `log_file`)."""

    def __init__(self, port: int, host: str = "127.0.0.1", log_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Endpoint URL for boto clients."""
        return f"http://{self.host}:{self.port}"

    def start(self, bucket: str, region: str, timeout_s: float = 30.0) -> None:
        """Start the server process, wait until it listens, and create `bucket` (idempotent).

        Raises TimeoutError when it does not listen within `timeout_s` seconds."""
        import boto3

        from studio.localstack.ports import wait_for_port

        cmd = [
            sys.executable, str(Path(__file__).resolve()),
            "--host", self.host, "--port", str(self.port), "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        log = self.log_file.open("ab") if self.log_file is not None else None
        # Its own session: a Ctrl-C in the terminal reaches `studio dev`, which stops S3 last.
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if log is not None:
            log.close()
        try:
            wait_for_port(self.host, self.port, timeout_s, "moto S3", alive=self._alive)
        except TimeoutError:
            self.stop()
            raise
        client = boto3.client(
            "s3", endpoint_url=self.url, region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
        )
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            if region == "us-east-1":
                client.create_bucket(Bucket=bucket)
            else:
                client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the server (objects are lost), SIGKILL it after `timeout_s` seconds."""
        if self._proc is None:
            return
        from studio.localstack.ports import stop_process  # lazily: the child script imports nothing of ours

        stop_process(self._proc, timeout_s)
        self._proc = None


def main(argv: list[str] | None = None) -> None:
    """The child: serve moto on `--host:--port` until SIGTERM/SIGINT or `--parent-pid` exits."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description="moto S3 for the Render Studio local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per S3 call
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True).start()
    while not stop.wait(PARENT_POLL_S):
        if args.parent_pid and os.getppid() != args.parent_pid:
            break  # the parent died (we were re-parented): nobody will stop us
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()

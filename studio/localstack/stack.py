"""Start and stop the whole embedded stack in dependency order."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from clients.settings import DEV_DEFAULT_PORTS, Settings
from db.migrate import upgrade
from gemini_emulator import EmulatorServer
from studio.localstack.ports import free_port
from studio.localstack.postgres import EmbeddedPostgres
from studio.localstack.s3 import LocalS3
from studio.localstack.temporal import TemporalDevServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackEndpoints:
    """Where each part of a running stack listens."""

    database_url: str
    temporal_address: str
    temporal_ui_url: str
    s3_endpoint_url: str
    gemini_base_url: str | None  # None when the real Gemini API is used

    def apply(self, settings: Settings) -> Settings:
        """A copy of `settings` pointed at this stack."""
        update: dict[str, object] = {
            "database_url": self.database_url,
            "temporal_address": self.temporal_address,
            "temporal_ui_url": self.temporal_ui_url,
            "s3_endpoint_url": self.s3_endpoint_url,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
        if self.gemini_base_url is not None:
            update["gemini_base_url"] = self.gemini_base_url
        return settings.model_copy(update=update)


def _port(url: str, default: int) -> int:
    return urlsplit(url if "//" in url else f"//{url}").port or default


def dev_ports(settings: Settings) -> dict[str, int]:
    """The fixed ports of `studio dev`, read from the same settings the API and worker use, so
    DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_UI_URL, S3_ENDPOINT_URL, API_PORT and
    GOOGLE_GEMINI_BASE_URL move the local services too."""
    d = DEV_DEFAULT_PORTS
    return {
        "api": settings.api_port,
        "temporal": _port(settings.temporal_address, d["temporal"]),
        "temporal_ui": _port(settings.temporal_ui_url, d["temporal_ui"]),
        "postgres": _port(settings.database_url.replace("+asyncpg", ""), d["postgres"]),
        "s3": _port(settings.s3_endpoint_url or "", d["s3"]),
        "gemini": _port(settings.gemini_base_url or "", d["gemini"]),
    }


class LocalStack:
    """Temporal dev server, embedded Postgres (migrated), SeaweedFS S3 (bucket created), Gemini emulator.

    Temporal, Postgres and S3 run in processes of their own; the emulator in a thread of the
    caller (tests script it in-process).

    `ephemeral_ports=True` picks free ports (tests); otherwise the fixed dev ports of
    `DEV_DEFAULT_PORTS`. Data persists under `state_dir`, so a second start reuses it.
    The emulator is started only when `with_emulator` is true (no Gemini key configured).
    `tied_to_parent=True` (`studio dev`, from the main thread): the Temporal server ends with this
    process even when it is killed; S3's supervisor always does; a Postgres left running by a
    killed process is stopped and started again on the next start.
    """

    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        *,
        ephemeral_ports: bool,
        with_emulator: bool,
        tied_to_parent: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.ephemeral_ports = ephemeral_ports
        ports = {name: free_port() for name in DEV_DEFAULT_PORTS} if ephemeral_ports else dev_ports(settings)
        self.temporal = TemporalDevServer(
            state_dir / "temporal.db",
            ports["temporal"],
            ports["temporal_ui"],
            state_dir / "temporal.log",
            tied_to_parent=tied_to_parent,
        )
        self.postgres = EmbeddedPostgres(state_dir / "postgres", ports["postgres"])
        self.s3 = LocalS3(ports["s3"], state_dir / "s3", log_file=state_dir / "s3.log")
        self.with_emulator = with_emulator
        self._gemini_port = ports["gemini"]
        self.emulator: EmulatorServer | None = None
        self._stack = contextlib.ExitStack()
        self.endpoints: StackEndpoints | None = None

    def start(self) -> StackEndpoints:
        """Start every part (blocking, tens of seconds on first run); stops what started on error."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        try:
            self.postgres.start()
            self._stack.callback(self.postgres.stop)
            upgrade(self.postgres.url)
            self.s3.start(self.settings.s3_bucket, self.settings.aws_region)
            self._stack.callback(self.s3.stop)
            self._start_temporal()
            self._stack.callback(self.temporal.stop)
            gemini_url = None
            if self.with_emulator:
                # Ephemeral: the OS picks the port at bind time. A port picked up front can be taken
                # by then (Temporal's dev server opens random internal ports while it starts).
                port = 0 if self.ephemeral_ports else self._gemini_port
                self.emulator = EmulatorServer(host="127.0.0.1", port=port)
                self.emulator.start()
                self._stack.callback(self.emulator.stop)
                gemini_url = self.emulator.url
        except BaseException:
            self.stop()
            raise
        self.endpoints = StackEndpoints(
            database_url=self.postgres.url,
            temporal_address=self.temporal.address,
            temporal_ui_url=self.temporal.ui_url,
            s3_endpoint_url=self.s3.url,
            gemini_base_url=gemini_url,
        )
        return self.endpoints

    def _start_temporal(self) -> None:
        """Start the dev server; with ephemeral ports, retry on fresh ports (another process
        can take a port between our probe and the server's bind)."""
        attempts = 3 if self.ephemeral_ports else 1
        for attempt in range(1, attempts + 1):
            try:
                self.temporal.start()
                return
            except TimeoutError:
                if attempt == attempts:
                    raise
                log.warning("Temporal dev server did not start; retrying on new ports")
                self.temporal.port, self.temporal.ui_port = free_port(), free_port()

    def stop(self) -> None:
        """Stop every part that was started, in reverse order."""
        self._stack.close()

"""docker-compose.yml is checked without a Docker engine: it validates against the Compose
specification's JSON schema, every app service runs a command the app really has, and every
variable it sets on the app is a setting the app reads."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
import yaml

from clients.settings import Settings
from studio.cli import app

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
# Variables read by libraries rather than by Settings.
LIBRARY_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT"}


def _app_services() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: svc for name, svc in services.items() if svc.get("image") == "render-studio:local"}


def test_compose_file_validates_against_the_compose_spec() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_app_service_runs_a_real_command() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    services = _app_services()
    assert {"api", "worker", "migrate", "gemini-emulator"} <= set(services)
    for name, service in services.items():
        command = service["command"]
        if command[0] == "studio":
            assert command[1] in commands, (name, command)
        else:
            assert command[:2] == ["python", "-m"], (name, command)
            importlib.import_module(command[2])


def test_app_environment_names_are_settings() -> None:
    known = {name.upper() for name in Settings.model_fields} | LIBRARY_VARIABLES
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        known |= set(getattr(alias, "choices", []))
    for name, service in _app_services().items():
        unknown = set(service["environment"]) - known
        assert not unknown, (name, unknown)
    assert (ROOT / "Dockerfile").exists()

"""docker-compose.yml is checked without a Docker engine: it validates against the Compose
specification's JSON schema, and is read the way Compose and the images would read it
(tests/compose_checks.py: one named check per concern). tests/test_compose_defects.py puts each
defect of issue 14 back and shows its check catches it; tests/test_compose_run.py runs the app
services' commands against the local stack."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
import yaml

from clients.settings import Settings
from kernel.search_attributes import ALL_KEYS
from studio.cli import app
from studio.localstack.temporal import MATCHING_FLAGS
from tests import compose_checks as cc


def test_compose_file_validates_against_the_compose_spec() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.compose-spec", str(cc.COMPOSE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_services_the_readme_names_are_there() -> None:
    assert set(cc.services(cc.load())) == {
        "postgres", "temporal-db", "temporal-schema", "temporal", "temporal-init", "temporal-ui",
        "s3", "gemini-emulator", "migrate", "api", "worker",
    }  # fmt: skip


def test_every_app_service_runs_a_real_command() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    services = {n: s for n, s in cc.services(cc.load()).items() if s.get("image") == cc.APP_IMAGE}
    assert {"api", "worker", "migrate", "gemini-emulator"} <= set(services)
    for name, service in services.items():
        command = service["command"]
        if command[0] == "studio":
            assert command[1] in commands, (name, command)
        else:
            assert command[:2] == ["python", "-m"], (name, command)
            importlib.import_module(command[2])


def test_one_shot_jobs_are_awaited_to_completion_and_servers_to_health() -> None:
    assert cc.check_dependency_conditions(cc.load()) == []


def test_every_healthcheck_connects_over_tcp() -> None:
    assert cc.check_server_healthchecks(cc.load()) == []


def test_one_shot_jobs_retry_a_bounded_number_of_times() -> None:
    assert cc.check_restart_policies(cc.load()) == []


def test_temporal_broadcast_address_is_absent_or_an_ip() -> None:
    assert cc.check_temporal_broadcast_address(cc.load()) == []


def test_temporal_init_waits_retries_with_a_bound_and_fails_loudly() -> None:
    assert cc.check_temporal_init(cc.load()) == []


def test_temporal_init_registers_the_search_attributes_the_workflows_set() -> None:
    script = cc.temporal_init_script(cc.load())
    listed = re.search(r"for name in ([A-Za-z ]+); do", script)
    assert listed is not None, script
    assert listed.group(1).split() == [key.name for key in ALL_KEYS]


def test_presigned_urls_name_a_host_published_port_of_s3() -> None:
    assert cc.check_s3_presign_endpoint(cc.load()) == []
    # A team host overrides the public name (and must then set the S3 secret); the check holds.
    team = {"S3_PUBLIC_ENDPOINT_URL": "http://studio.lan:8333", "S3_SECRET_ACCESS_KEY": "from-dotenv"}
    assert cc.check_s3_presign_endpoint(cc.load(variables=team)) == []


def test_s3_store_enforces_the_apps_credentials() -> None:
    # What SeaweedFS 3.97 loads from its environment: an identity for exactly the app's key, no
    # anonymous one. (tests/test_compose_run.py shows a wrong key refused by a real `weed`.)
    assert cc.check_s3_credentials(cc.load()) == []
    assert cc.check_s3_credentials(cc.load(variables={"S3_SECRET_ACCESS_KEY": "from-dotenv"})) == []


def test_the_s3_secret_comes_from_the_environment_for_both_sides() -> None:
    assert cc.check_s3_secret_from_environment() == []
    # The first `docker compose up` on a laptop needs no .env; a shared one names the variable.
    assert cc.environment(cc.services(cc.load())["api"])["AWS_SECRET_ACCESS_KEY"].startswith("dev-only")
    with pytest.raises(ValueError, match="S3_SECRET_ACCESS_KEY is missing a value"):
        cc.load(variables={"S3_PUBLIC_ENDPOINT_URL": "http://studio.example.lan:8333"})
    shared = cc.load(variables={"S3_PUBLIC_ENDPOINT_URL": "http://studio.lan:8333", "S3_SECRET_ACCESS_KEY": "k" * 40})
    assert {cc.environment(cc.services(shared)[n])["AWS_SECRET_ACCESS_KEY"] for n in ("api", "s3")} == {"k" * 40}


def test_no_unauthenticated_internal_service_is_published_on_all_interfaces() -> None:
    assert cc.check_published_interfaces(cc.load()) == []
    published = {
        (name, host_ip, port)
        for name, service in cc.services(cc.load()).items()
        for host_ip, port, _ in cc.port_bindings(service)
    }
    assert published == {
        ("api", "", 8000), ("s3", "", 8333),  # public: they authenticate every request
        ("temporal", "127.0.0.1", 7233), ("temporal-ui", "127.0.0.1", 8233),
    }  # fmt: skip


def test_s3_store_does_not_preallocate_disk() -> None:
    assert cc.check_s3_disk(cc.load()) == []


def test_images_are_pinned_to_exact_versions() -> None:
    assert cc.check_image_pins(cc.load()) == []


def test_temporal_server_gets_the_dynamic_config_it_no_longer_ships() -> None:
    assert cc.check_temporal_dynamic_config(cc.load()) == []


def test_temporal_dynamic_config_matches_the_local_dev_servers() -> None:
    """The fairness and single-partition settings `studio dev` passes as flags (the quota pacing
    relies on them) are in the deployment's dynamic config too, with the same values."""
    config = yaml.safe_load((cc.ROOT / "deploy/temporal/dynamicconfig.yaml").read_text())
    flags = dict(v.split("=", 1) for v in MATCHING_FLAGS[1::2])
    assert {key: str(entries[0]["value"]).lower() for key, entries in config.items()} == flags


def test_app_services_set_only_settings_and_every_needed_one() -> None:
    assert cc.check_app_environment(cc.load()) == []


def test_app_endpoints_name_a_service_and_the_port_it_listens_on() -> None:
    assert cc.check_app_endpoints(cc.load()) == []


def test_app_environment_passes_the_production_checks() -> None:
    """The compose environment, read by Settings with STUDIO_ENV=production, is accepted (no
    placeholder credentials, a real DATABASE_URL, a model endpoint)."""
    for name in sorted(cc.APP_SERVICES):
        env = cc.environment(cc.services(cc.load())[name])
        settings = Settings(_env_file=None, **{**env, "STUDIO_ENV": "production"})  # type: ignore[arg-type]
        assert settings.s3_public_endpoint_url == "http://localhost:8333"
        assert settings.effective_gemini_base_url == "http://gemini-emulator:8765"


def test_the_api_listens_on_the_port_compose_publishes() -> None:
    api = cc.services(cc.load())["api"]
    settings = Settings(_env_file=None, **cc.environment(api))  # type: ignore[arg-type]
    assert settings.api_host == "0.0.0.0"
    assert cc.published_ports(api) == {8000: settings.api_port}


def test_dockerignore_keeps_the_virtualenv_and_local_state_out_of_the_build() -> None:
    assert cc.check_dockerignore() == []


def test_the_image_contains_every_package_and_file_the_install_needs() -> None:
    """The Dockerfile copies each package pyproject installs (a new top-level package would
    otherwise be missing from the image) and nothing it copies is excluded by .dockerignore."""
    pyproject = tomllib.loads((cc.ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for line in (cc.ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied |= {Path(src).name for src in line.split()[1:-1]}
    assert packages | {"pyproject.toml", "README.md"} <= copied
    ignored = {line.strip().strip("/") for line in cc.DOCKERIGNORE.read_text().splitlines() if line.strip()}
    assert not copied & ignored

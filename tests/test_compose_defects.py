"""Each defect issue 14's review found, put back into a copy of docker-compose.yml (or the build
context), is caught by the named check in tests/compose_checks.py.

Every mutation is a text edit of the real file, so it stays in step with it: a mutation whose
text is no longer in the file fails here (update it together with the file).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import compose_checks as cc

OLD_TEMPORAL_INIT = """    restart: "no"
    environment: { TEMPORAL_ADDRESS: "temporal:7233" }
    entrypoint: ["/bin/sh", "-c"]
    command:
      - |
        until temporal operator cluster health; do sleep 2; done
        temporal operator namespace describe -n default || temporal operator namespace create -n default
        for name in ProjectId TaskId OwnerId Model AssetType RenderStage RenderErrorCode; do
          temporal operator search-attribute create -n default --name $$name --type Keyword || true
        done

"""


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"mutation out of date: {old!r} is not in docker-compose.yml"
    return text.replace(old, new)


def old_temporal_init(text: str) -> str:
    """temporal-init as it was: one unbounded wait, errors swallowed, no restart, started (not
    healthy) server."""
    block = re.search(r"  temporal-init:\n.*?\n(?=  temporal-ui:\n)", text, re.S)
    assert block is not None
    body = block.group(0)
    head = body[: body.index("    restart:")]
    head = replace(head, "condition: service_healthy", "condition: service_started")
    return text.replace(body, head + OLD_TEMPORAL_INIT)


def preallocating_entrypoint(text: str) -> str:
    """The s3 service through the image's entrypoint.sh again (it adds -master.volumePreallocate
    and 1 GiB volumes), with the flags this file adds to turn that off gone."""
    text = replace(text, '    entrypoint: ["/usr/bin/weed"]\n', "")
    text = replace(text, "      - -logtostderr=true\n", "")
    text = replace(text, "      - -master.volumePreallocate=false\n", "")
    return replace(text, "      - -master.volumeSizeLimitMB=128\n", "")


BIND = "      BIND_ON_IP: 0.0.0.0\n"
S3_HEALTHCHECK = '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8333/healthz"]\n'
PG_ISREADY_TCP = '"pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "studio"'
DYNAMIC_CONFIG_MOUNT = (
    '    volumes: ["./deploy/temporal/dynamicconfig.yaml:/etc/temporal/config/dynamicconfig/render-studio.yaml:ro"]\n'
)

Mutation = Callable[[str], str]
Check = Callable[[cc.Compose], list[str]]

DEFECTS: dict[str, tuple[Mutation, Check, str]] = {
    "1-broadcast-address-hostname": (
        lambda t: replace(t, BIND, BIND + "      TEMPORAL_BROADCAST_ADDRESS: temporal\n"),
        cc.check_temporal_broadcast_address,
        "is not an IP address",
    ),
    "2-migrate-races-s3": (
        lambda t: replace(t, "      s3: { condition: service_healthy }", "      s3: { condition: service_started }"),
        cc.check_dependency_conditions,
        "migrate waits for server s3 with service_started",
    ),
    "2-s3-without-healthcheck": (
        lambda t: replace(t, S3_HEALTHCHECK, "      disable: true\n"),
        cc.check_dependency_conditions,
        "s3 has no healthcheck",
    ),
    "3-pg-isready-on-the-socket": (
        lambda t: replace(t, PG_ISREADY_TCP, '"pg_isready", "-U", "studio"'),
        cc.check_dependency_conditions,
        "pg_isready without -h",
    ),
    "3-one-shot-job-never-retried": (
        lambda t: replace(t, '    command: ["studio", "migrate", "--create-bucket"]\n    restart: on-failure:5\n',
                          '    command: ["studio", "migrate", "--create-bucket"]\n    restart: "no"\n'),
        cc.check_restart_policies,
        "one-shot job migrate has restart 'no'",
    ),
    "4-temporal-init-hides-failure": (old_temporal_init, cc.check_temporal_init, "swallows failures"),
    "4-temporal-init-waits-forever": (old_temporal_init, cc.check_temporal_init, "unbounded loop"),
    "4-temporal-init-on-a-started-server": (
        old_temporal_init,
        cc.check_dependency_conditions,
        "temporal-init waits for server temporal with service_started",
    ),
    "5-presigned-urls-name-s3-8333": (
        lambda t: replace(t, "${S3_PUBLIC_ENDPOINT_URL:-http://localhost:8333}", "http://s3:8333"),
        cc.check_s3_presign_endpoint,
        "resolves only inside compose",
    ),
    "5-no-public-endpoint": (
        lambda t: replace(t, "    S3_PUBLIC_ENDPOINT_URL: ${S3_PUBLIC_ENDPOINT_URL:-http://localhost:8333}\n", ""),
        cc.check_s3_presign_endpoint,
        "no S3_PUBLIC_ENDPOINT_URL",
    ),
    "6-s3-accepts-any-key": (
        lambda t: replace(t, "      <<: *s3-credentials\n      WEED_MASTER", "      WEED_MASTER"),
        cc.check_s3_credentials,
        "no identities configured",
    ),
    "10-temporal-grpc-on-all-interfaces": (
        lambda t: replace(t, 'ports: ["127.0.0.1:7233:7233"]', 'ports: ["0.0.0.0:7233:7233"]'),
        cc.check_published_interfaces,
        "temporal publishes container port 7233 on all interfaces (0.0.0.0:7233)",
    ),
    "10-temporal-grpc-without-host-ip": (
        lambda t: replace(t, 'ports: ["127.0.0.1:7233:7233"]', 'ports: ["7233:7233"]'),
        cc.check_published_interfaces,
        "temporal publishes container port 7233 on all interfaces",
    ),
    "10-temporal-ui-on-all-interfaces": (
        lambda t: replace(t, 'ports: ["127.0.0.1:8233:8080"]', 'ports: ["8233:8080"]'),
        cc.check_published_interfaces,
        "temporal-ui publishes container port 8080 on all interfaces",
    ),
    "10-postgres-published": (
        lambda t: replace(t, "    volumes: [app-db:/var/lib/postgresql/data]\n",
                          '    volumes: [app-db:/var/lib/postgresql/data]\n    ports: ["5432:5432"]\n'),
        cc.check_published_interfaces,
        "postgres publishes container port 5432 on all interfaces",
    ),
    "7-s3-preallocates-7-gib": (preallocating_entrypoint, cc.check_s3_disk, "volumes are preallocated"),
    "8-floating-postgres-tag": (
        lambda t: replace(t, "image: postgres:17.6", "image: postgres:17"),
        cc.check_image_pins,
        "postgres:17 is not pinned",
    ),
    "8-floating-temporal-tag": (
        lambda t: replace(t, "image: temporalio/server:1.30.1", "image: temporalio/server:1.29"),
        cc.check_image_pins,
        "temporalio/server:1.29 is not pinned",
    ),
    "8-temporal-1.30-without-dynamic-config": (
        lambda t: replace(t, DYNAMIC_CONFIG_MOUNT, ""),
        cc.check_temporal_dynamic_config,
        "ships no dynamic config",
    ),
}  # fmt: skip


S3_SECRET_LINE = re.search(r"^  AWS_SECRET_ACCESS_KEY: .*$", cc.COMPOSE.read_text(), re.M)
S3_SECRET = S3_SECRET_LINE.group(0) if S3_SECRET_LINE else "(no AWS_SECRET_ACCESS_KEY line in x-s3-credentials)"
S3_ENV = "    environment:\n      <<: *s3-credentials\n"

# Defects of the S3 secret: the check reads the file's text under several .env contents.
TEXT_DEFECTS: dict[str, tuple[Mutation, str]] = {
    "11-s3-secret-written-in-the-file": (
        lambda t: replace(t, S3_SECRET, "  AWS_SECRET_ACCESS_KEY: render-studio-secret"),
        "api: AWS_SECRET_ACCESS_KEY is written in the file, not from S3_SECRET_ACCESS_KEY",
    ),
    "11-s3-store-keeps-its-own-secret": (
        lambda t: replace(t, S3_ENV, S3_ENV + "      AWS_SECRET_ACCESS_KEY: render-studio-secret\n"),
        "s3: its identities do not follow S3_SECRET_ACCESS_KEY",
    ),
    "11-shared-stack-starts-with-the-dev-secret": (
        lambda t: replace(t, S3_SECRET, "  AWS_SECRET_ACCESS_KEY: ${S3_SECRET_ACCESS_KEY:-dev-only-s3-secret}"),
        "starts with the dev-only S3 secret instead of asking for S3_SECRET_ACCESS_KEY",
    ),
    "11-default-secret-not-marked-dev-only": (
        lambda t: replace(t, "}}dev-only-s3-secret-set-S3_SECRET_ACCESS_KEY}", "}}render-studio-secret}"),
        "the default S3 secret 'render-studio-secret' does not say it is dev-only",
    ),
}  # fmt: skip


@pytest.mark.parametrize("defect", sorted(TEXT_DEFECTS))
def test_the_s3_secret_check_catches_the_defect_put_back(defect: str) -> None:
    mutate, expected = TEXT_DEFECTS[defect]
    text = cc.COMPOSE.read_text()
    assert cc.check_s3_secret_from_environment(text) == []
    problems = cc.check_s3_secret_from_environment(mutate(text))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_the_check_catches_the_defect_put_back(defect: str) -> None:
    mutate, check, expected = DEFECTS[defect]
    text = cc.COMPOSE.read_text()
    assert check(cc.load(text)) == []  # the file as it is passes
    problems = check(cc.load(mutate(text)))
    assert any(expected in problem for problem in problems), problems


def test_9_a_build_context_without_dockerignore_is_caught(tmp_path: Path) -> None:
    assert cc.check_dockerignore(tmp_path / ".dockerignore") == [
        ".dockerignore is missing: .venv/ and .studio/ would be sent as build context"
    ]
    (tmp_path / ".dockerignore").write_text(cc.DOCKERIGNORE.read_text().replace(".venv/\n", ""))
    assert cc.check_dockerignore(tmp_path / ".dockerignore") == [".dockerignore does not exclude .venv"]

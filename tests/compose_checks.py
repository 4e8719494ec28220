"""docker-compose.yml read the way Docker Compose and the images would read it, without Docker.

`load()` parses the file with PyYAML (anchors and `<<` merges resolved) and interpolates
`${VAR:-default}`, `${VAR:+alt}`, `${VAR:?message}` (nested) and `$$` as Compose does, with the
variables of the caller's choosing (none: every default applies). Each `check_*` function
returns the problems it found as sentences (empty: fine); tests/test_compose.py asserts each is
empty, and tests/test_compose_defects.py puts each defect of issue 14 back into a copy of the
file and asserts its check names it.

What the upstream images do with their environment and arguments is modelled from their
sources: temporalio/docker-builds and temporalio/temporal `docker/` (entrypoints, the
embedded config template), SeaweedFS 3.97 `docker/entrypoint.sh` and `weed/command/server.go`;
Compose's interpolation from compose-spec/compose-go `template/template.go`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"

Compose = dict[str, Any]

# Jobs that run once and exit; everything else is a long-running server.
ONE_SHOT_JOBS = {"temporal-schema", "temporal-init", "migrate"}
# Services running the app image with the app's settings.
APP_SERVICES = {"api", "worker", "migrate"}
APP_IMAGE = "render-studio:local"
# How many dotted version parts an exact tag of each image has (their own numbering: Postgres
# and SeaweedFS releases are major.minor, Temporal and Python major.minor.patch).
EXACT_TAG_PARTS = {
    "postgres": 2,
    "chrislusf/seaweedfs": 2,
    "temporalio/server": 3,
    "temporalio/admin-tools": 3,
    "temporalio/ui": 3,
    "python": 3,
}
# Variables the app services may set that are read by libraries rather than by Settings.
LIBRARY_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT"}
# Settings a deployment must set explicitly (their defaults point at `studio dev`'s loopback).
REQUIRED_APP_SETTINGS = {
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_UI_URL",
    "S3_ENDPOINT_URL",
    "S3_PUBLIC_ENDPOINT_URL",
    "S3_BUCKET",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
# Host ports published on every interface on purpose: the API and web studio, and S3 (browsers
# fetch presigned URLs there). Both authenticate each request. Any other published port (Temporal's
# gRPC and Web UI have no authentication) must be bound to the loopback interface.
PUBLIC_PORTS = {"api": {8000}, "s3": {8333}}
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
# The variables that carry the S3 key to both sides (the app services and the s3 store).
S3_SECRET_VARIABLE = "S3_SECRET_ACCESS_KEY"
S3_KEY_ID_VARIABLE = "S3_ACCESS_KEY_ID"
# Port each server listens on inside its container (images' defaults; see listen_port()).
IMAGE_PORTS = {"postgres": 5432, "temporalio/server": 7233}
MAX_JOB_RETRIES = 20

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r":?[-+?]")


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start` (nested `${...}` skipped)."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unclosed ${{ in {text!r}")


def _braced(body: str, variables: Mapping[str, str]) -> str:
    name_match = _NAME.match(body)
    if name_match is None:
        raise ValueError(f"invalid interpolation ${{{body}}}")
    name, rest = name_match.group(0), body[name_match.end() :]
    if not rest:
        return variables.get(name, "")
    op_match = _OPERATOR.match(rest)
    if op_match is None:
        raise ValueError(f"invalid interpolation ${{{body}}}")
    op, arg = op_match.group(0), rest[op_match.end() :]
    present, value = name in variables, variables.get(name, "")
    usable = value != "" if op.startswith(":") else present
    if op.endswith("-"):
        return value if usable else interpolate(arg, variables)
    if op.endswith("+"):
        return interpolate(arg, variables) if usable else value
    if not usable:
        raise ValueError(f"required variable {name} is missing a value: {interpolate(arg, variables)}")
    return value


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation of one string: `$$` is a literal `$`; `${X:-d}` is X unless
    unset or empty, else d; `${X-d}` is X unless unset; `${X:+a}` is a when X is set and not
    empty, else X (empty); `${X+a}` is a when X is set; `${X}` and `$X` are X or empty. Defaults
    may hold further `${...}`, interpolated only when used (compose-go's `template`).

    Raises ValueError for `${X:?message}` / `${X?message}` when X is missing (and is used)."""
    out = []
    i = 0
    while i < len(value):
        if value[i] != "$":
            out.append(value[i])
            i += 1
        elif value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("${", i):
            end = _closing_brace(value, i + 2)
            out.append(_braced(value[i + 2 : end], variables))
            i = end + 1
        elif (bare := _NAME.match(value, i + 1)) is not None:
            out.append(variables.get(bare.group(0), ""))
            i = bare.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def load(text: str | None = None, variables: Mapping[str, str] | None = None) -> Compose:
    """The compose file (or `text`), merges resolved and values interpolated with `variables`."""
    raw = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    return dict(_interpolate_tree(copy.deepcopy(raw), variables or {}))


def services(compose: Compose) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (Compose accepts a mapping or a list of NAME=value)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """{dependency: condition}; the short (list) form means `service_started`."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command_words(service: Mapping[str, Any], key: str = "command") -> list[str]:
    value = service.get(key) or []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def image_name(image: str) -> tuple[str, str]:
    """('postgres', '17.6') from 'postgres:17.6'; the tag is '' when absent (= latest)."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return name, tag


def _version(tag: str) -> tuple[int, ...]:
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def published_ports(service: Mapping[str, Any]) -> dict[int, int]:
    """{host port: container port} of a service's `ports` (short and long syntax)."""
    result: dict[int, int] = {}
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result[int(entry["published"])] = int(entry["target"])
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2:
            result[int(parts[-2])] = int(parts[-1])
    return result


def port_bindings(service: Mapping[str, Any]) -> list[tuple[str, int | None, int]]:
    """(host IP, host port, container port) of each `ports` entry, short and long syntax. The
    host IP is '' when none is given (Docker then binds every interface); the host port is None
    when Docker picks one. Ranges are not used in this file and are not parsed."""
    result: list[tuple[str, int | None, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            host_port = int(published) if published not in (None, "") else None
            result.append((str(entry.get("host_ip", "")), host_port, int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        host_ip = ""
        if spec.startswith("["):  # [::1]:7233:7233
            host_ip, _, spec = spec[1:].partition("]:")
        parts = spec.split(":")
        if len(parts) == 3:
            host_ip = parts[0]
        host_port = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
        result.append((host_ip, host_port, int(parts[-1])))
    return result


def weed_args(service: Mapping[str, Any]) -> list[str]:
    """The arguments `weed` really runs with: the image's entrypoint.sh (SeaweedFS 3.97) adds
    `-dir=/data [-volume.max=0] -master.volumePreallocate -master.volumeSizeLimitMB=1024` in
    front of a `server` command unless the entrypoint is replaced."""
    entrypoint = command_words(service, "entrypoint")
    command = command_words(service, "command")
    if entrypoint:
        if Path(entrypoint[0]).name != "weed":
            return []
        return entrypoint[1:] + command
    if command and command[0] == "server":
        defaults = ["-dir=/data", "-master.volumePreallocate", "-master.volumeSizeLimitMB=1024"]
        if not any(a == "-volume.max" or a.startswith("-volume.max=") for a in command):
            defaults.insert(1, "-volume.max=0")
        return ["server", *defaults, *command[1:]]
    return command


def flag_value(args: list[str], name: str, *, boolean: bool = False) -> str | None:
    """The value Go's flag package ends up with for `-name` (the last one given wins):
    `-name=v`, `-name v`, or a bare `-name` for a boolean flag ('true'). None: not given."""
    value = None
    for i, arg in enumerate(args):
        flag, eq, given = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or flag != name:
            continue
        if eq:
            value = given
        elif boolean:
            value = "true"
        elif i + 1 < len(args):
            value = args[i + 1]
    return value


def listen_port(name: str, service: Mapping[str, Any]) -> int | None:
    """The TCP port a server listens on inside its container, from its command or its image."""
    image, _ = image_name(str(service.get("image", "")))
    if image == "chrislusf/seaweedfs":
        return int(flag_value(weed_args(service), "s3.port") or 8333)
    words = command_words(service)
    if "--port" in words:
        return int(words[words.index("--port") + 1])
    if name == "api":
        return 8000
    return IMAGE_PORTS.get(image)


# --- healthchecks -------------------------------------------------------------------------


def healthcheck_problem(name: str, service: Mapping[str, Any]) -> str | None:
    """Why a server's healthcheck does not prove it answers over TCP, or None when it does."""
    health = service.get("healthcheck")
    if not health or health.get("disable"):
        return f"{name} has no healthcheck"
    test = health.get("test")
    words = shlex.split(test) if isinstance(test, str) else [str(w) for w in test]
    if words and words[0] in ("CMD", "CMD-SHELL"):
        words = shlex.split(" ".join(words[1:])) if words[0] == "CMD-SHELL" else words[1:]
    line = " ".join(words)
    if "pg_isready" in words:
        host = words[words.index("-h") + 1] if "-h" in words else None
        if host is None or host.startswith("/"):
            return f"{name}: pg_isready without -h checks the unix socket, which answers before TCP does"
        return None
    if words[:2] == ["nc", "-z"] and len(words) >= 4:
        return None
    if re.search(r"https?://[^/\s'\"]+:\d+", line) and any(w in line for w in ("wget", "curl", "urlopen")):
        return None
    return f"{name}: healthcheck {words} does not connect over TCP"


# --- the checks, one per concern --------------------------------------------------------------


def check_dependency_conditions(compose: Compose) -> list[str]:
    """Defects 2, 3, 4: one-shot jobs awaited with service_completed_successfully, servers with
    service_healthy and a TCP healthcheck."""
    problems = []
    svcs = services(compose)
    for name, service in svcs.items():
        for dep, condition in depends_on(service).items():
            if dep in ONE_SHOT_JOBS:
                if condition != "service_completed_successfully":
                    problems.append(f"{name} waits for one-shot job {dep} with {condition}")
            elif condition != "service_healthy":
                problems.append(f"{name} waits for server {dep} with {condition}, not service_healthy")
            elif (problem := healthcheck_problem(dep, svcs[dep])) is not None:
                problems.append(f"{name} waits for {dep} to be healthy but {problem}")
    return problems


def check_server_healthchecks(compose: Compose) -> list[str]:
    """Every healthcheck the file defines connects over TCP (a server others wait on must have
    one: check_dependency_conditions)."""
    return [
        problem
        for name, service in services(compose).items()
        if "healthcheck" in service and (problem := healthcheck_problem(name, service)) is not None
    ]


def check_restart_policies(compose: Compose) -> list[str]:
    """Defect 3/4: one-shot jobs retry a bounded number of times (`on-failure:N`); servers restart."""
    problems = []
    for name, service in services(compose).items():
        restart = str(service.get("restart", "no"))
        if name in ONE_SHOT_JOBS:
            match = re.fullmatch(r"on-failure:(\d+)", restart)
            if not match or not 1 <= int(match.group(1)) <= MAX_JOB_RETRIES:
                problems.append(f"one-shot job {name} has restart {restart!r}, not on-failure:N (1..20)")
        elif restart not in ("unless-stopped", "always"):
            problems.append(f"server {name} has restart {restart!r}")
    return problems


def check_temporal_broadcast_address(compose: Compose) -> list[str]:
    """Defect 1: ringpop parses TEMPORAL_BROADCAST_ADDRESS with net.ParseIP; a name makes the
    server exit. With BIND_ON_IP=0.0.0.0 the image's entrypoint fills in the container IP."""
    problems = []
    for name, service in services(compose).items():
        env = environment(service)
        if "TEMPORAL_BROADCAST_ADDRESS" in env:
            value = env["TEMPORAL_BROADCAST_ADDRESS"]
            try:
                ipaddress.ip_address(value)
            except ValueError:
                problems.append(f"{name}: TEMPORAL_BROADCAST_ADDRESS={value!r} is not an IP address")
        image, _ = image_name(str(service.get("image", "")))
        if image == "temporalio/server" and env.get("BIND_ON_IP") not in ("0.0.0.0", "::0"):
            problems.append(f"{name}: BIND_ON_IP must be 0.0.0.0 so the port is reachable from other containers")
    return problems


def temporal_init_script(compose: Compose) -> str:
    """The shell script the temporal-init job runs (after Compose's interpolation)."""
    service = services(compose)["temporal-init"]
    words = command_words(service, "entrypoint") + command_words(service)
    assert words[:2] == ["/bin/sh", "-c"], words
    return words[2]


def check_temporal_init(compose: Compose) -> list[str]:
    """Defect 4: temporal-init waits for a healthy server, retries with a bound, fails loudly."""
    problems = []
    svcs = services(compose)
    script = temporal_init_script(compose)
    if depends_on(svcs["temporal-init"]).get("temporal") != "service_healthy":
        problems.append("temporal-init does not wait for temporal to be healthy")
    if "set -e" not in script:
        problems.append("temporal-init script does not stop at the first failing step (set -e)")
    if "|| true" in script:
        problems.append("temporal-init swallows failures (|| true)")
    if re.search(r"until [^;]+; do\s+sleep [0-9]+; done", script):
        problems.append("temporal-init waits in an unbounded loop")
    if not re.search(r"(exit|return) 1", script):
        problems.append("temporal-init never exits non-zero")
    return problems


def check_s3_presign_endpoint(compose: Compose) -> list[str]:
    """Defect 5: presigned URLs must name an endpoint reachable from outside the compose
    network: a host-published port of the s3 service, on a name that is not a service name."""
    problems = []
    svcs = services(compose)
    s3_port = listen_port("s3", svcs["s3"])
    published = published_ports(svcs["s3"])
    for name in sorted(APP_SERVICES & set(svcs)):
        env = environment(svcs[name])
        public = env.get("S3_PUBLIC_ENDPOINT_URL", "")
        if not public:
            problems.append(
                f"{name}: no S3_PUBLIC_ENDPOINT_URL; presigned URLs would name {env.get('S3_ENDPOINT_URL')}"
            )
            continue
        parts = urlsplit(public)
        if parts.hostname in svcs:
            problems.append(f"{name}: S3_PUBLIC_ENDPOINT_URL {public} names a host that resolves only inside compose")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if published.get(port) != s3_port:
            problems.append(
                f"{name}: S3_PUBLIC_ENDPOINT_URL {public}: port {port} is not published by s3 ({published})"
            )
    return problems


def s3_identities(compose: Compose, root: Path = ROOT) -> list[dict[str, Any]]:
    """The identities SeaweedFS 3.97 loads: the -s3.config file (mounted from the repo), else
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY as one admin identity (auth_credentials.go; used
    while the filer stores no identity config of its own, which nothing here writes)."""
    service = services(compose)["s3"]
    config = flag_value(weed_args(service), "s3.config")
    if config:
        for volume in service.get("volumes") or []:
            source, _, rest = str(volume).partition(":")
            if rest.split(":")[0] == config and source.startswith("."):
                return list(json.loads((root / source).read_text()).get("identities", []))
        return []
    env = environment(service)
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        key = {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}
        return [{"name": "admin-env", "credentials": [key], "actions": ["Admin"]}]
    return []


def check_s3_credentials(compose: Compose, root: Path = ROOT) -> list[str]:
    """Defect 6: with no identity SeaweedFS turns authentication off and takes any key. The
    app's key must be an identity that may write, and nobody may act anonymously."""
    identities = s3_identities(compose, root)
    if not identities:
        return ["s3 has no identities configured: SeaweedFS accepts any key"]
    problems = []
    keys = {(c.get("accessKey"), c.get("secretKey")): i for i in identities for c in i.get("credentials", [])}
    for identity in identities:
        if not identity.get("credentials"):
            problems.append(f"s3 identity {identity.get('name')!r} acts without credentials (anonymous)")
    for name in sorted(APP_SERVICES & set(services(compose))):
        env = environment(services(compose)[name])
        app_identity = keys.get((env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")))
        if app_identity is None:
            problems.append(f"{name}: its AWS key is not an identity of the s3 store")
        elif not {"Admin", "Write"} & set(app_identity.get("actions", [])):
            problems.append(f"{name}: its s3 identity may not write")
    return problems


def check_s3_secret_from_environment(text: str | None = None) -> list[str]:
    """The S3 key is no secret written in the file: S3_SECRET_ACCESS_KEY (and S3_ACCESS_KEY_ID)
    alone sets it for the app services and for the s3 store's identity; without it a laptop
    gets a default that says it is dev-only, and a stack named for other machines
    (S3_PUBLIC_ENDPOINT_URL set) refuses to start (`${VAR:?message}`)."""
    problems = []
    chosen = {S3_KEY_ID_VARIABLE: "key-id-from-env", S3_SECRET_VARIABLE: "secret-from-env-7f3a"}
    compose = load(text, chosen)
    svcs = services(compose)
    for name in sorted(APP_SERVICES & set(svcs)):
        env = environment(svcs[name])
        if env.get("AWS_SECRET_ACCESS_KEY") != chosen[S3_SECRET_VARIABLE]:
            problems.append(f"{name}: AWS_SECRET_ACCESS_KEY is written in the file, not from {S3_SECRET_VARIABLE}")
        if env.get("AWS_ACCESS_KEY_ID") != chosen[S3_KEY_ID_VARIABLE]:
            problems.append(f"{name}: AWS_ACCESS_KEY_ID is written in the file, not from {S3_KEY_ID_VARIABLE}")
    keys = {(c.get("accessKey"), c.get("secretKey")) for i in s3_identities(compose) for c in i.get("credentials", [])}
    if keys != {(chosen[S3_KEY_ID_VARIABLE], chosen[S3_SECRET_VARIABLE])}:
        problems.append(f"s3: its identities do not follow {S3_SECRET_VARIABLE}/{S3_KEY_ID_VARIABLE} (key in a file?)")
    laptop = services(load(text))
    for name in sorted(APP_SERVICES & set(laptop)):
        secret = environment(laptop[name]).get("AWS_SECRET_ACCESS_KEY", "")
        if not secret.startswith("dev-only"):
            problems.append(f"{name}: the default S3 secret {secret!r} does not say it is dev-only")
    try:
        load(text, {"S3_PUBLIC_ENDPOINT_URL": "http://studio.example.lan:8333"})
    except ValueError as refused:
        if S3_SECRET_VARIABLE not in str(refused):
            problems.append(f"a shared stack is refused, but the message does not name {S3_SECRET_VARIABLE}: {refused}")
    else:
        problems.append(
            f"a stack named for other machines (S3_PUBLIC_ENDPOINT_URL set) starts with the dev-only S3 secret"
            f" instead of asking for {S3_SECRET_VARIABLE}"
        )
    return problems


def check_published_interfaces(compose: Compose) -> list[str]:
    """No unauthenticated internal service is published on all interfaces: only PUBLIC_PORTS
    (API, S3) are; every other published port is bound to the loopback interface."""
    problems = []
    for name, service in services(compose).items():
        for host_ip, host_port, target in port_bindings(service):
            if host_port is not None and host_port in PUBLIC_PORTS.get(name, set()):
                continue
            if host_ip not in LOOPBACK_HOSTS:
                shown = f"{host_ip or 'all interfaces'}:{host_port or 'any'}"
                problems.append(
                    f"{name} publishes container port {target} on all interfaces ({shown}), not on 127.0.0.1"
                    if host_ip in ("", "0.0.0.0", "::")
                    else f"{name} publishes container port {target} on {shown}, not on 127.0.0.1"
                )
    return problems


def check_s3_disk(compose: Compose) -> list[str]:
    """Defect 7: SeaweedFS must not preallocate volumes, and volumes stay small (dev-sized)."""
    args = weed_args(services(compose)["s3"])
    problems = []
    if (flag_value(args, "master.volumePreallocate", boolean=True) or "false") != "false":
        problems.append("s3: volumes are preallocated (-master.volumePreallocate): about 7 GiB on the first write")
    size = int(flag_value(args, "master.volumeSizeLimitMB") or 30_000)
    if size > 256:
        problems.append(f"s3: volumes of {size} MB (want <= 256 MB for a dev-sized deployment)")
    return problems


def check_image_pins(compose: Compose, dockerfile: Path = ROOT / "Dockerfile") -> list[str]:
    """Defect 8: every image pinned to an exact version (no `latest`, no major-only tags)."""
    images = {name: str(s["image"]) for name, s in services(compose).items() if "image" in s}
    for line in dockerfile.read_text().splitlines():
        if line.upper().startswith("FROM "):
            images["Dockerfile"] = line.split()[1]
    problems = []
    for where, image in images.items():
        if image == APP_IMAGE:
            continue
        name, tag = image_name(image.split("@")[0])
        if "@sha256:" in image:
            continue
        parts = len(_version(tag))
        want = EXACT_TAG_PARTS.get(name, 3)
        if not tag or tag == "latest" or parts < want:
            problems.append(f"{where}: image {image} is not pinned to an exact version")
    return problems


def check_temporal_dynamic_config(compose: Compose, root: Path = ROOT) -> list[str]:
    """Defect 8 (second half): server images from 1.30 on ship no dynamic-config file, yet the
    server's config template points at one: it must be mounted from the repo."""
    problems = []
    for name, service in services(compose).items():
        image, tag = image_name(str(service.get("image", "")))
        if image != "temporalio/server" or _version(tag) < (1, 30):
            continue
        path = environment(service).get("DYNAMIC_CONFIG_FILE_PATH", "/etc/temporal/config/dynamicconfig/docker.yaml")
        mounted = {}
        for volume in service.get("volumes") or []:
            source, _, rest = str(volume).partition(":")
            mounted[rest.split(":")[0]] = source
        config = mounted.get(path)
        if config is None or not (root / config).is_file():
            problems.append(f"{name}: {image}:{tag} ships no dynamic config and none is mounted at {path}")
    return problems


def check_app_environment(compose: Compose) -> list[str]:
    """Every variable the app services set is read by Settings (or a library), and every
    setting a deployment needs is set."""
    from clients.settings import Settings

    known = {field.upper() for field in Settings.model_fields} | LIBRARY_VARIABLES
    for field in Settings.model_fields.values():
        known |= set(getattr(field.validation_alias, "choices", []))
    problems = []
    for name in sorted(APP_SERVICES):
        env = environment(services(compose)[name])
        if unknown := sorted(set(env) - known):
            problems.append(f"{name} sets variables the app does not read: {unknown}")
        if missing := sorted(n for n in REQUIRED_APP_SETTINGS if not env.get(n)):
            problems.append(f"{name} leaves settings at their loopback defaults: {missing}")
    return problems


def check_app_endpoints(compose: Compose) -> list[str]:
    """Every endpoint an app service talks to names a compose service and the port it listens on."""
    svcs = services(compose)
    problems = []
    for name in sorted(APP_SERVICES):
        env = environment(svcs[name])
        for var in ("DATABASE_URL", "TEMPORAL_ADDRESS", "S3_ENDPOINT_URL", "GEMINI_EMULATOR_URL"):
            value = env.get(var, "")
            parts = urlsplit(value if "://" in value else f"//{value}")
            target = parts.hostname or ""
            if target not in svcs:
                problems.append(f"{name}: {var}={value!r} names no compose service")
            elif parts.port != listen_port(target, svcs[target]):
                problems.append(f"{name}: {var}={value!r}: {target} listens on {listen_port(target, svcs[target])}")
    return problems


def check_dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    """Defect 9: the build context leaves out the virtualenv and the local stack's data."""
    if not path.is_file():
        return [".dockerignore is missing: .venv/ and .studio/ would be sent as build context"]
    patterns = {
        line.strip().strip("/").removeprefix("**/")
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    return [f".dockerignore does not exclude {d}" for d in (".venv", ".studio") if d not in patterns]

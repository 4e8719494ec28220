"""Run schemathesis (`st run`) against a live API and turn its NDJSON events into figures.

`fuzz()` seeds real resources (projects, finished tasks, their assets, a task awaiting review)
so path parameters hit real rows about half of the time, writes a `schemathesis.toml`, runs the
`st` CLI as a subprocess and parses its NDJSON report: cases and status codes per operation,
and every failed check with one minimal reproducing request.

Why a subprocess: in the test suite the API is served by uvicorn on the pytest event loop, and
schemathesis sends blocking `requests` calls; called in-process it would block the very loop
that must answer them. `asyncio.create_subprocess_exec` leaves the loop free to serve, keeps
schemathesis' Hypothesis settings and hook registry out of the test process, and is exactly what
`make fuzz` runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fuzz import corpus

ROOT = Path(__file__).resolve().parents[2]
READ_LINE_LIMIT = 16 * 1024 * 1024  # bytes
ST = str(Path(sys.executable).parent / "st")

# What must hold for every response. Chosen from `st run --help` (schemathesis 4.x):
CHECKS = (
    "not_a_server_error",  # no 5xx: every dependency is up, so a 500 or 503 is a bug
    "status_code_conformance",  # every status is in the operation's documented responses
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",  # bodies match the documented schemas
    "negative_data_rejection",  # schema-invalid input gets a 4xx, never a 2xx
    "missing_required_header",
    "ignored_auth",  # operations with security reject missing / wrong credentials
    "unsupported_method",  # an undeclared method gets 405 with an `Allow` header
    "allow_header_conformance",  # ... and that `Allow` lists the declared methods
    "use_after_free",  # stateful: a deleted asset is gone
    "ensure_resource_availability",  # stateful: what POST created can be read back
)
# Left out, on purpose:
# - positive_data_acceptance: schema-valid input that the API rightly refuses with a 422 would
#   fail it: rules the schema cannot express (review needs n >= 2, a known asset_type, the
#   webhook URL policy, no control characters in text, an asset update names a field) and the
#   hostile inputs of `tests.fuzz.corpus`, which are schema-valid on purpose. (Its defaults
#   already accept 404 for random ids, 409 for wrong states and 429 for limits.)
# - object_level_authorization: needs a second user wired through a WFC auth file; the API
#   tests check cross-user access explicitly (`other_http`).
# - max_response_time: timing on a shared 2-core machine is noise.

# Probes take no input and are not part of the API; /metrics is not in the schema anyway.
EXCLUDE_PATHS = r"^/(healthz|readyz|metrics)$"


@dataclass
class Seeds:
    """Real resources of the fuzzing user, bound to path parameters through dictionaries."""

    project_ids: list[str] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    review_asset_ids: list[str] = field(default_factory=list)


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code == expect, f"seeding: POST {url} -> {response.status_code} {response.text}"
    return dict(response.json())


async def _wait(client: httpx.AsyncClient, task_id: str, status: str, stage: str | None = None) -> dict[str, Any]:
    """Poll the task until it has `status` (and `stage`, if given), for at most 90 s."""
    deadline = time.monotonic() + 90
    while True:
        view = dict((await client.get(f"/api/v1/tasks/{task_id}")).json())
        if view["status"] == status and stage in (None, view.get("stage")):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"seeding: task {task_id} stuck in {view['status']}/{view.get('stage')}")
        await asyncio.sleep(0.2)


async def seed_resources(client: httpx.AsyncClient) -> Seeds:
    """Two projects; in the first, a finished 2-variation task (one asset public), a task that
    references one of its assets (lineage), a 2-variation task left awaiting review, and one
    canceled while awaiting review (its assets, if any are left, made public)."""
    token = f"fuzz{uuid.uuid4().hex[:8]}"
    quota = {"daily_image_quota": 100_000}
    main = await _post(client, "/api/v1/projects", {"name": f"{token} main", **quota})
    empty = await _post(client, "/api/v1/projects", {"name": f"{token} empty", **quota})
    tasks_url = f"/api/v1/projects/{main['id']}/tasks"
    first = await _post(client, tasks_url, {"name": "seed", "prompt": f"a red cube {token}", "n": 2}, expect=202)
    first = await _wait(client, first["id"], "succeeded")
    assets = [str(a) for a in first["asset_ids"]]
    await _make_public(client, assets[0], expect=200)
    child_body = {"name": "child", "prompt": f"the cube again {token}", "reference_asset_ids": [assets[0]]}
    child = await _post(client, tasks_url, child_body, expect=202)
    child = await _wait(client, child["id"], "succeeded")
    review_body = {"name": "review", "prompt": f"pick a cube {token}", "n": 2, "review": True, "review_timeout_s": 3600}
    review = await _post(client, tasks_url, review_body, expect=202)
    review = await _wait(client, review["id"], "running", "awaiting_review")
    canceled = await _post(client, tasks_url, {**review_body, "name": "canceled"}, expect=202)
    await _wait(client, canceled["id"], "running", "awaiting_review")
    response = await client.post(f"/api/v1/tasks/{canceled['id']}/cancel")
    assert response.status_code == 202, f"seeding: cancel -> {response.status_code} {response.text}"
    await _wait(client, canceled["id"], "canceled")
    listed = await client.get(f"/api/v1/projects/{main['id']}/rendered-assets", params={"task_id": canceled["id"]})
    leftovers = [str(a["id"]) for a in listed.json()["items"]]
    for asset_id in leftovers:
        await _make_public(client, asset_id, expect=None)
    return Seeds(
        project_ids=[str(main["id"]), str(empty["id"])],
        task_ids=[str(first["id"]), str(child["id"]), str(review["id"]), str(canceled["id"])],
        asset_ids=[*assets, *(str(a) for a in child["asset_ids"]), *leftovers],
        review_asset_ids=[str(v["asset_id"]) for v in review["variations"] if v.get("asset_id")],
    )


async def _make_public(client: httpx.AsyncClient, asset_id: str, expect: int | None) -> None:
    response = await client.patch(f"/api/v1/rendered-assets/{asset_id}", json={"visibility": "public"})
    if expect is not None:
        assert response.status_code == expect, f"seeding: make {asset_id} public -> {response.status_code}"


def _toml_str(value: str) -> str:
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or 0x2028 <= ord(ch) <= 0x202E:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def write_config(workdir: Path, api_key: str, seeds: Seeds) -> None:
    """`workdir/schemathesis.toml`: auth, timeouts, dictionaries of real ids and hostile URLs."""
    lines = [
        'hooks = "tests.fuzz.hooks"',
        "continue-on-failure = true",
        "request-timeout = 30",  # a 100-task batch creates 100 workflows in one request
        "",
        "[headers]",
        f"Authorization = {_toml_str('Bearer ' + api_key)}",
        "",
        "[generation]",
        f"database = {_toml_str(str(workdir / 'hypothesis-db'))}",
        "",
        "[cache]",
        f"directory = {_toml_str(str(workdir / 'cache'))}",
        "",
    ]
    dictionaries = {
        "project_ids": seeds.project_ids,
        "task_ids": seeds.task_ids,
        "asset_ids": seeds.asset_ids + seeds.review_asset_ids,
        "review_winners": seeds.review_asset_ids + seeds.asset_ids[:1],
        "webhook_urls": list(corpus.WEBHOOK_URLS),
    }
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml_list(values)}", ""]
    bindings = {
        "path.project_id": ("project_ids", 0.5),
        "path.task_id": ("task_ids", 0.5),
        "query.task_id": ("task_ids", 0.5),
        "path.asset_id": ("asset_ids", 0.5),
        "body.winner": ("review_winners", 0.5),
        "body.webhook_url": ("webhook_urls", 0.4),
    }
    lines.append("[parameters]")
    for key, (name, probability) in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = {probability} }}')
    # The event stream runs until its task ends (or its review does): read one event, at most 3 s.
    lines += [
        "",
        "[[operations]]",
        'include-path = "/api/v1/tasks/{task_id}/events"',
        "request-timeout = 3",
        "max-stream-events = 1",
        "",
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "schemathesis.toml").write_text("\n".join(lines), encoding="utf-8")


@dataclass
class OperationStats:
    cases: int = 0
    positive: int = 0
    negative: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)


@dataclass
class Failure:
    """One failed check, with the smallest request that shows it."""

    operation: str
    check: str
    code: str
    title: str
    message: str
    request: str
    status: int | str
    response: str
    count: int = 1


@dataclass
class Outcome:
    """What one `st run` did and found."""

    exit_code: int
    seconds: float
    seed: str | None
    output: str
    operations: dict[str, OperationStats]
    undeclared: OperationStats
    phases: Counter[str]
    failures: list[Failure]
    errors: list[str]
    workdir: Path
    engine_faults: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(s.cases for s in self.operations.values()) + self.undeclared.cases

    @property
    def ok(self) -> bool:
        """No failure, no error, some cases, and an exit code of 0 or one explained by
        `engine_faults` alone (schemathesis' own crashes, which say nothing about the API)."""
        clean_exit = self.exit_code == 0 or (self.exit_code == 1 and bool(self.engine_faults))
        return clean_exit and not self.failures and not self.errors and self.cases > 0

    def table(self) -> str:
        """Cases and status codes per operation, then totals; the failures, if any."""
        rows = [("operation", "cases", "pos/neg", "status codes")]
        total = OperationStats()
        for label in sorted(self.operations, key=_operation_order):
            s = self.operations[label]
            rows.append((label, str(s.cases), f"{s.positive}/{s.negative}", _statuses(s.statuses)))
            total.cases += s.cases
            total.statuses.update(s.statuses)
        u = self.undeclared
        rows.append(("(undeclared methods, all paths)", str(u.cases), "", _statuses(u.statuses)))
        total.cases += u.cases
        total.statuses.update(u.statuses)
        rows.append(("TOTAL", str(total.cases), "", _statuses(total.statuses)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        out = [
            f"schemathesis: {self.cases} cases over {len(self.operations)} operations in {self.seconds:.0f} s, "
            f"exit code {self.exit_code}, seed {self.seed} (phases: {_counts(self.phases)})",
        ]
        for i, r in enumerate(rows):
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[3])
            if i == 0 or r[0].startswith("(undeclared"):
                out.append("-" * (sum(widths) + 6 + 40))
        out.append(f"{len(self.failures)} distinct failures, {len(self.errors)} errors; reports in {self.workdir}")
        return "\n".join(out)

    def failure_report(self) -> str:
        """The failures grouped by operation and check, each with one minimal request."""
        out = []
        for f in self.failures:
            out.append(f"* {f.operation} | {f.check} {f.code} {f.title} (x{f.count})")
            if f.message.strip():
                out.append(f"    {f.message.strip().replace(chr(10), ' | ')}")
            out += [f"    request:  {f.request}", f"    response: {f.status} {f.response}"]
        out += [f"* error: {e}" for e in self.errors]
        out += [f"* schemathesis' own fault (not counted): {e}" for e in self.engine_faults]
        return "\n".join(out)


METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _operation_order(label: str) -> tuple[str, int]:
    method, _, path = label.partition(" ")
    return path, METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _statuses(counter: Counter[int | str]) -> str:
    return " ".join(f"{k}x{v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])))


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.items())


def _decode(payload: Any, limit: int = 300) -> str:
    """An NDJSON body ({"$base64": ...}, a JSON value or None) as short readable text."""
    if payload is None:
        return ""
    if isinstance(payload, dict) and set(payload) == {"$base64"}:
        raw = base64.b64decode(payload["$base64"])
        text = raw.decode("utf-8", errors="backslashreplace")
    else:
        text = json.dumps(payload, ensure_ascii=False)
    text = text.encode("unicode_escape").decode("ascii") if any(ord(c) < 0x20 for c in text) else text
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _describe_request(case: dict[str, Any], interaction: dict[str, Any] | None) -> str:
    request = (interaction or {}).get("request") or {}
    url = request.get("uri") or case.get("path", "")
    parts = [f"{case.get('method', request.get('method', '?'))} {url}"]
    headers = {k: v for k, v in (case.get("headers") or {}).items() if k.lower() != "authorization"}
    if headers:
        parts.append(f"headers={json.dumps(headers, ensure_ascii=False)}")
    if "body" in request and request["body"] is not None:
        parts.append(f"body={_decode(request['body'])}")
    elif "body" in case:
        parts.append(f"body={_decode(case['body'])}")
    return " ".join(parts)


def _events(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            (kind, data), *_ = json.loads(line).items()
            yield kind, data


@dataclass
class Parsed:
    operations: dict[str, OperationStats] = field(default_factory=lambda: defaultdict(OperationStats))
    undeclared: OperationStats = field(default_factory=OperationStats)
    phases: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str, str], Failure] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    engine_faults: list[str] = field(default_factory=list)
    seed: str | None = None


# Errors inside schemathesis' own process, not answers of the API: CPython 3.11's `ast` module
# can raise this spuriously (python/cpython#106905), and schemathesis' coverage phase uses it.
ENGINE_FAULTS = ("AST constructor recursion depth mismatch",)


def parse_ndjson(path: Path, declared: set[tuple[str, str]]) -> Parsed:
    """Per-operation cases and statuses, phase counts, failures (deduplicated) and errors."""
    parsed = Parsed()
    seen: set[str] = set()
    for kind, data in _events(path):
        if kind == "Initialize":
            parsed.seed = str(data.get("seed"))
        elif kind in ("NonFatalError", "FatalError"):
            info = data.get("info") or data.get("exception") or data
            line = f"{kind}: {data.get('label', '')} {json.dumps(info, ensure_ascii=False)[:600]}"
            fault = kind == "NonFatalError" and any(f in json.dumps(info) for f in ENGINE_FAULTS)
            (parsed.engine_faults if fault else parsed.errors).append(line)
        elif kind == "ScenarioFinished":
            recorder = data.get("recorder") or {}
            interactions = recorder.get("interactions") or {}
            checks = recorder.get("checks") or {}
            for case_id, entry in (recorder.get("cases") or {}).items():
                if case_id in seen:
                    continue
                seen.add(case_id)
                _count_case(
                    parsed,
                    declared,
                    data.get("phase", "?"),
                    entry["value"],
                    interactions.get(case_id),
                    checks.get(case_id, []),
                )
    return parsed


def _count_case(
    parsed: Parsed,
    declared: set[tuple[str, str]],
    phase: str,
    case: dict[str, Any],
    interaction: dict[str, Any] | None,
    checks: list[dict[str, Any]],
) -> None:
    method, template = case["method"].upper(), case["path"]
    response = (interaction or {}).get("response") or {}
    status = response.get("status_code", "no-answer")
    stats = parsed.operations[f"{method} {template}"] if (method, template) in declared else parsed.undeclared
    stats.cases += 1
    stats.statuses[status] += 1
    mode = ((case.get("meta") or {}).get("generation") or {}).get("mode")
    stats.positive += mode == "positive"
    stats.negative += mode == "negative"
    parsed.phases[phase] += 1
    for check in checks:
        if check.get("status") != "failure":
            continue
        info = (check.get("failure_info") or {}).get("failure") or {}
        found = Failure(
            operation=info.get("operation") or f"{method} {template}",
            check=check["name"],
            code=info.get("code", ""),
            title=info.get("title", ""),
            message=info.get("message", ""),
            request=_describe_request(case, interaction),
            status=status,
            response=_decode(response.get("content")),
        )
        key = (found.operation, found.check, found.title, str(status))
        known = parsed.failures.setdefault(key, found)
        if known is found:
            continue
        known.count += 1
        if len(found.request) < len(known.request):  # keep the smallest request as the example
            found.count = known.count
            parsed.failures[key] = found


async def _declared_operations(base_url: str) -> set[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        spec = (await client.get("/openapi.json")).json()
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def _command(
    base_url: str, workdir: Path, max_examples: int, max_time_s: int | None, seed: int | None, workers: int
) -> list[str]:
    reports = workdir / "reports"
    command = [
        ST, "--config-file", str(workdir / "schemathesis.toml"), "run", f"{base_url}/openapi.json",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(max_examples),
        "--exclude-path-regex", EXCLUDE_PATHS,
        "--workers", str(workers),
        "--report", "ndjson,junit",
        "--report-dir", str(reports),
        "--report-ndjson-path", str(reports / "events.ndjson"),
        "--report-junit-path", str(reports / "junit.xml"),
        "--no-color",
    ]  # fmt: skip
    if max_time_s is not None:
        command += ["--max-time", str(max_time_s)]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command


def _outcome(workdir: Path, output: str, exit_code: int, seconds: float, declared: set[tuple[str, str]]) -> Outcome:
    """Parse the NDJSON report; write schemathesis' output and the figures next to it."""
    (workdir / "output.txt").write_text(output, encoding="utf-8")
    ndjson = workdir / "reports" / "events.ndjson"
    parsed = parse_ndjson(ndjson, declared) if ndjson.exists() else Parsed(errors=["no NDJSON report written"])
    failures = sorted(parsed.failures.values(), key=lambda f: (_operation_order(f.operation), f.check))
    outcome = Outcome(
        exit_code=exit_code,
        seconds=seconds,
        seed=parsed.seed,
        output=output,
        operations=dict(parsed.operations),
        undeclared=parsed.undeclared,
        phases=parsed.phases,
        failures=failures,
        errors=parsed.errors,
        engine_faults=parsed.engine_faults,
        workdir=workdir,
    )
    (workdir / "figures.txt").write_text(outcome.table() + "\n\n" + outcome.failure_report() + "\n", encoding="utf-8")
    return outcome


async def fuzz(
    base_url: str,
    api_key: str,
    workdir: Path,
    *,
    max_examples: int,
    max_time_s: int | None = None,
    seed: int | None = None,
    workers: int = 2,
    timeout_s: float = 3600,
    echo: bool = False,
) -> Outcome:
    """Seed, configure and run `st run` against `base_url`; kill it after `timeout_s`.

    `max_time_s` makes a time-bounded run: schemathesis then repeats fuzzing and stateful
    testing until the time is spent (`make fuzz`). `echo` streams schemathesis' output."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        seeds = await seed_resources(client)
    write_config(workdir, api_key, seeds)
    # The hooks module is imported from the repository; everything schemathesis writes (its
    # Hypothesis database, cache, reports) stays under `workdir`.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *_command(base_url, workdir, max_examples, max_time_s, seed, workers),
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # A report line can be long (a failing case's body and its curl); the default 64 KiB
        # line limit once failed the whole run on a 112 KB line.
        limit=READ_LINE_LIMIT,
    )
    lines: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            lines.append(raw.decode("utf-8", errors="replace"))
            if echo:
                print(lines[-1], end="", flush=True)

    try:
        await asyncio.wait_for(asyncio.gather(read(), proc.wait()), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        lines.append(f"\n[runner] st run killed after {timeout_s:.0f} s\n")
    seconds = time.monotonic() - started
    declared = await _declared_operations(base_url)
    exit_code = proc.returncode if proc.returncode is not None else -1
    return await asyncio.to_thread(_outcome, workdir, "".join(lines), exit_code, seconds, declared)


def failures_section(output: str) -> str:
    """The FAILURES and ERRORS sections of schemathesis' own output (with its curl commands)."""
    marks = [i for i in (output.find("= FAILURES ="), output.find("= ERRORS =")) if i >= 0]
    if not marks:
        return output[-6000:]
    start = output.rfind("\n", 0, min(marks)) + 1
    ends = [i for i in (output.find("= WARNINGS =", start), output.find("= SUMMARY =", start)) if i >= 0]
    section = output[start : output.rfind("\n", 0, min(ends))] if ends else output[start:]
    return section if len(section) <= 30000 else section[:30000] + "\n[... truncated]"

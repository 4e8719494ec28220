"""The scenarios of issue 10. Each resets the emulator, restarts the service on a fresh task
queue, does its work, and returns its rows; each stops by itself (every wait has a deadline).

Sizes are the issue's times BENCH_SCALE (see `Sizes`); the quota, the latency and the
concurrency never scale, so a scaled run keeps the shape of the full one.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from tests.bench import driver
from tests.bench.env import PEER_GEMINI_KEY, SERVICE_GEMINI_KEY, UNLIMITED, BenchEnv, RssPeaks, sample_rss
from tests.bench.fill import Filler, terminate_some
from tests.bench.peer import PeerJob, PeerResult
from tests.bench.report import Row, fmt, ms

QUOTA_PER_MINUTE = 60
LATENCY_S = 2.0
CONCURRENCY = 50  # the peer's, and the service's model calls across its workers
MODEL = "gemini-3-pro-image-preview"
FAIRNESS_CAP_S = 90.0  # B's wait is cut here (reported as "> 90")
GET_TARGET_S, LIST_TARGET_S, LIST_RATIO_TARGET = 0.100, 0.250, 1.5
DEFAULT_RSS_BUDGET_MB = 1536


@dataclass(frozen=True)
class Sizes:
    """Scenario sizes at `scale` (1.0 = the issue's)."""

    scale: float
    quota_images: int
    fairness_a_tasks: int
    open_images: int
    intake_tasks: int
    rest_tasks: int
    rest_small_tasks: int
    k4_tasks: int
    read_samples: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        def scaled(full: int, least: int) -> int:
            return max(least, round(full * scale))

        return cls(
            scale=scale,
            quota_images=scaled(240, QUOTA_PER_MINUTE + 1),  # at least two windows
            fairness_a_tasks=scaled(300, QUOTA_PER_MINUTE + 1),  # enough to fill the window
            open_images=scaled(200, CONCURRENCY),
            intake_tasks=scaled(1000, 100),
            rest_tasks=scaled(10_000, 500),
            rest_small_tasks=100,
            k4_tasks=scaled(50, 5),
            read_samples=scaled(200, 60),
        )


@dataclass
class Context:
    """What scenarios share: sizes, worker count, the at-rest project (for reads under load)."""

    sizes: Sizes
    workers: int
    notes: list[str] = field(default_factory=list)
    filler: Filler | None = None  # the at-rest projects, filled in the background
    fill_during_quota: bool = False
    rest_project: str | None = None
    rest_closed_ids: list[str] = field(default_factory=list)


def service_env(ctx: Context, quota_per_minute: float | None, total_calls: int | None = None) -> dict[str, str]:
    """Settings the service is told (only those it has): the quota it paces at (none: effectively
    unlimited) and, when given, its model calls at once across all workers; then BENCH_SERVICE_ENV
    ("NAME=value,NAME=value") on top."""
    from tests.bench.env import settings_fields

    fields = settings_fields()
    env: dict[str, str] = {}
    if "gemini_images_per_minute" in fields:
        env["GEMINI_IMAGES_PER_MINUTE"] = str(quota_per_minute or UNLIMITED)
    if total_calls is not None and "gemini_max_concurrent_calls" in fields:
        env["GEMINI_MAX_CONCURRENT_CALLS"] = str(math.ceil(total_calls / max(1, ctx.workers)))
    for pair in filter(None, os.environ.get("BENCH_SERVICE_ENV", "").split(",")):
        name, _, value = pair.partition("=")
        env[name.strip()] = value.strip()
    return env


async def run_peer(env: BenchEnv, job: PeerJob) -> PeerResult:
    """Run the peer script in its own process (as the service's workers are)."""
    with (env.root / f"peer-{job.run}.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.peer", job.model_dump_json(), stdout=asyncio.subprocess.PIPE, stderr=log
        )
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the peer failed (exit {proc.returncode}); see {env.root}/peer-{job.run}.log")
    return PeerResult.model_validate_json(out.decode().strip().splitlines()[-1])


def peer_job(env: BenchEnv, run: str, images: int, **extra: object) -> PeerJob:
    assert env.endpoints is not None
    return PeerJob.model_validate(
        {
            "run": run,
            "images": images,
            "concurrency": CONCURRENCY,
            "gemini_base_url": env.emulator.url,
            "gemini_api_key": PEER_GEMINI_KEY,
            "model": MODEL,
            "s3_endpoint_url": env.endpoints.s3_endpoint_url,
            "s3_bucket": "render-studio",
            "database_url": env.endpoints.database_url.replace("+asyncpg", ""),
            **extra,
        }
    )


async def _prepare(
    env: BenchEnv, ctx: Context, *, quota: int | None, realistic: bool = False, workers: int | None = None,
    total_calls: int | None = None,
) -> None:  # fmt: skip
    await env.emulator.reset()
    await env.emulator.configure(
        latency_s=LATENCY_S, quota_images_per_minute=quota, quota_window_s=60.0, realistic_bytes=realistic
    )
    await env.restart_service(workers, service_env(ctx, quota, total_calls))


def _tag(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}"


# -- quota ---------------------------------------------------------------------------------


async def quota(env: BenchEnv, ctx: Context) -> list[Row]:
    """N images at a 60/min quota and 2 s a call: the service and the peer at once, each with
    its own API key (Google's quota is per project and model, so they do not share one)."""
    n = ctx.sizes.quota_images
    bound = 60 * (math.ceil(n / QUOTA_PER_MINUTE) - 1) + LATENCY_S
    await _prepare(env, ctx, quota=QUOTA_PER_MINUTE)
    tag = _tag("quota")
    filling = ctx.filler is not None and ctx.fill_during_quota
    if ctx.filler is not None and ctx.fill_during_quota:
        ctx.filler.allow(True)
    try:
        peer_task = asyncio.create_task(run_peer(env, peer_job(env, tag, n)))
        async with env.client() as client:
            batch = await driver.batch_endpoint(client)
            project = await driver.create_project(client, tag)
            intake = await driver.create_tasks(client, project, driver.task_bodies(tag, n), batch)
        closed = await driver.closed_workflows(env, project, n, timeout_s=bound * 1.5 + 60, stall_s=150)
        peer = await peer_task
    finally:
        if ctx.filler is not None:
            ctx.filler.allow(False)
    service_calls = await env.emulator.stats(SERVICE_GEMINI_KEY)
    peer_calls = await env.emulator.stats(PEER_GEMINI_KEY)
    delivered = await driver.delivered_images(env, project)

    done = closed.closed == n and closed.last_close is not None
    makespan = closed.last_close - intake.started if done and closed.last_close else None
    peer_makespan = peer.finished - peer.started if peer.delivered == n else None

    def utilisation(span: float | None) -> float | None:
        return bound / span if span else None

    def per_image(stats: dict[str, int], images: int) -> float | None:
        return stats["rate_limited"] / images if images else None

    s_util, p_util = utilisation(makespan), utilisation(peer_makespan)
    # The bound above sends each minute's whole quota at once (a sliding window allows it); a
    # steady schedule (one call every 60/Q s, what the service's pacing does so a newcomer waits
    # at most one slot) needs (n - 1) * 60 / Q + latency.
    steady = (n - 1) * 60 / QUOTA_PER_MINUTE + LATENCY_S
    steady_util = steady / makespan if makespan else None
    s_429, p_429 = per_image(service_calls, delivered), per_image(peer_calls, peer.delivered)
    label = f"{n} images, {QUOTA_PER_MINUTE}/min, {LATENCY_S:g} s"
    ctx.notes.append(
        f"quota: the peer ran at the same time with its own API key (own quota); service calls "
        f"{service_calls['calls']} ({service_calls['rate_limited']} 429s), peer calls {peer_calls['calls']} "
        f"({peer_calls['rate_limited']} 429s); service task states {dict(closed.statuses)}"
        + ("; the at-rest project was being filled meanwhile (Temporal starts)" if filling else "")
    )
    return [
        Row("quota", f"makespan s ({label})", fmt(makespan), fmt(peer_makespan), fmt(bound)),
        Row("quota", "utilisation (bound / makespan)", fmt(s_util, 3), fmt(p_util, 3), "1.000", ">= 0.95",
            s_util is not None and s_util >= 0.95),
        Row("quota", f"utilisation vs a steady {QUOTA_PER_MINUTE}/min schedule ({steady:.0f} s)", fmt(steady_util, 3),
            fmt(steady / peer_makespan if peer_makespan else None, 3), "1.000"),
        Row("quota", "429s per delivered image", fmt(s_429, 3), fmt(p_429, 3), "0", "<= 0.01",
            s_429 is not None and s_429 <= 0.01),
        Row("quota", "images delivered", f"{delivered}/{n}", f"{peer.delivered}/{n}", str(n), "all",
            delivered == n),
    ]  # fmt: skip


# -- fairness ------------------------------------------------------------------------------


async def fairness(env: BenchEnv, ctx: Context) -> list[Row]:
    """Project A's batch fills the quota; project B's single task is created behind it."""
    a = ctx.sizes.fairness_a_tasks
    await _prepare(env, ctx, quota=QUOTA_PER_MINUTE)
    tag = _tag("fair")
    async with env.client() as client:
        batch = await driver.batch_endpoint(client)
        project_a = await driver.create_project(client, f"{tag} A")
        project_b = await driver.create_project(client, f"{tag} B")
        await driver.create_tasks(client, project_a, driver.task_bodies(f"{tag}-A", a), batch)
        submitted = time.time()
        await driver.create_tasks(client, project_b, driver.task_bodies(f"{tag}-B", 1), batch)
    closed = await driver.closed_workflows(env, project_b, 1, timeout_s=FAIRNESS_CAP_S)
    a_delivered = await driver.delivered_images(env, project_a)
    b_ok = closed.statuses.get("COMPLETED", 0) == 1 and closed.last_close is not None
    b_time = closed.last_close - submitted if b_ok and closed.last_close else None
    fifo = 60 * (math.ceil((a + 1) / QUOTA_PER_MINUTE) - 1) + LATENCY_S
    phases = await driver.phase_breakdown(env, project_b) if b_ok else "B did not finish"
    ctx.notes.append(
        f"fairness: B created after A's {a} tasks were accepted; A had {a_delivered} images when B's "
        f"wait ended; the peer column is what a first-come-first-served client would give (computed); "
        f"B's workflow, s from its start (activity scheduled/started/completed): {phases}"
    )
    shown = fmt(b_time) if b_time is not None else f"> {FAIRNESS_CAP_S:.0f}"
    return [
        Row("fairness", f"B's single task, end to end s (A: {a} tasks at {QUOTA_PER_MINUTE}/min)", shown,
            f"{fifo:.0f} (FIFO)", fmt(LATENCY_S), "<= 10", b_time is not None and b_time <= 10),
    ]  # fmt: skip


# -- open ----------------------------------------------------------------------------------


async def open_throughput(env: BenchEnv, ctx: Context) -> list[Row]:
    """No quota, 2 s a call, 50 calls at a time: images per second, the service then the peer."""
    n = ctx.sizes.open_images
    await _prepare(env, ctx, quota=None, total_calls=CONCURRENCY)
    tag = _tag("open")
    async with env.client() as client:
        batch = await driver.batch_endpoint(client)
        project = await driver.create_project(client, tag)
        intake = await driver.create_tasks(client, project, driver.task_bodies(tag, n), batch)
    closed = await driver.closed_workflows(env, project, n, timeout_s=180, stall_s=60)
    delivered = await driver.delivered_images(env, project)
    makespan = closed.last_close - intake.started if closed.closed == n and closed.last_close else None
    rate = delivered / makespan if makespan else None
    peer = await run_peer(env, peer_job(env, tag, n))
    peer_rate = peer.delivered / (peer.finished - peer.started) if peer.delivered else None
    bound = n / (math.ceil(n / CONCURRENCY) * LATENCY_S)
    ratio = rate / peer_rate if rate and peer_rate else None
    ctx.notes.append(
        f"open: service makespan {fmt(makespan)} s from the first creation (creating took "
        f"{intake.finished - intake.started:.1f} s), {delivered}/{n} delivered; peer {peer.delivered}/{n} in "
        f"{peer.finished - peer.started:.1f} s"
    )
    return [
        Row("open", f"images/s ({n} images, {CONCURRENCY} at a time, {LATENCY_S:g} s)", fmt(rate, 2),
            fmt(peer_rate, 2), fmt(bound, 2)),
        Row("open", "service / peer", fmt(ratio, 2), "1.00", "—", ">= 0.90", ratio is not None and ratio >= 0.9),
    ]  # fmt: skip


# -- intake --------------------------------------------------------------------------------


async def intake(env: BenchEnv, ctx: Context) -> list[Row]:
    """Task creations accepted per second by the API alone (no workers: nothing runs them)."""
    n = ctx.sizes.intake_tasks
    await _prepare(env, ctx, quota=None, workers=0)
    tag = _tag("intake")
    async with env.client() as client:
        batch = await driver.batch_endpoint(client)
        project = await driver.create_project(client, tag)
        result = await driver.create_tasks(client, project, driver.task_bodies(tag, n), batch)
    refused = f"; answered {dict(result.refused)} before acceptance" if result.refused else ""
    ctx.notes.append(f"intake: {result.method}, the API process alone (no workers){refused}")
    return [
        Row("intake", f"tasks accepted/s ({n} tasks; {result.method})", fmt(result.rate), "—", "—", ">= 100",
            result.rate >= 100),
    ]  # fmt: skip


# -- the API at rest -----------------------------------------------------------------------


def _reads(project: str, pool: list[str], list_project: str | None = None) -> list[tuple[str, Callable[[], str]]]:
    """GET of a task not read before (each read misses the API's cache), and the first list page."""
    unread = list(pool)
    random.shuffle(unread)

    def one_task() -> str:
        return f"/api/v1/tasks/{unread.pop() if unread else random.choice(pool)}"

    reads: list[tuple[str, Callable[[], str]]] = [
        ("get", one_task),
        ("list", lambda: f"/api/v1/projects/{project}/tasks"),
    ]
    if list_project is not None:
        reads.append(("list small", lambda: f"/api/v1/projects/{list_project}/tasks"))
    return reads


async def at_rest(env: BenchEnv, ctx: Context) -> list[Row]:
    """A project of N finished tasks (and one of 100): reads one at a time, nothing else running."""
    n, small, samples = ctx.sizes.rest_tasks, ctx.sizes.rest_small_tasks, ctx.sizes.read_samples
    await _prepare(env, ctx, quota=None, workers=0)
    filler = ctx.filler
    assert filler is not None, "the benchmark starts the filler when `rest` runs"
    started = time.monotonic()
    during_quota = filler.started_s
    await filler.finish()
    closed_ids = await terminate_some(env, filler.big_ids, samples * 4)
    filled_s = time.monotonic() - started
    project, small_project = filler.big_project, filler.small_project
    ctx.rest_project, ctx.rest_closed_ids = project, closed_ids[samples:]
    async with env.client() as client:
        await driver.probe_reads(client, _reads(project, closed_ids[:samples]), driver.Latencies(), rounds=5)
        lat = driver.Latencies()
        await driver.probe_reads(client, _reads(project, closed_ids[:samples], small_project), lat, rounds=samples)
    ratio = lat.p("list", 99) / lat.p("list small", 99)
    ctx.notes.append(
        f"at rest: {n} + {small} tasks filled (rows + workflows, {len(closed_ids)} closed; GETs read closed "
        f"tasks not read before) in {during_quota:.0f} s during quota and {filled_s:.0f} s here; {samples} "
        f"reads of each kind, one at a time; errors {dict(lat.errors) or 0}"
    )
    return [
        Row("at rest", f"GET /tasks/{{id}} p50 / p99 ms ({n} tasks)",
            f"{ms(lat.p('get', 50))} / {ms(lat.p('get', 99))}", target="p99 <= 100",
            met=lat.p("get", 99) <= GET_TARGET_S),
        Row("at rest", f"list p50 / p99 ms ({n} tasks)", f"{ms(lat.p('list', 50))} / {ms(lat.p('list', 99))}",
            target="p99 <= 250", met=lat.p("list", 99) <= LIST_TARGET_S),
        Row("at rest", f"list p99 at {n} / at {small} tasks", fmt(ratio, 2), target="<= 1.5",
            met=ratio <= LIST_RATIO_TARGET),
    ]  # fmt: skip


# -- 4K ------------------------------------------------------------------------------------


def rss_budget() -> tuple[int, str]:
    """The workers' memory budget in bytes and where it comes from: BENCH_RSS_BUDGET_MB, else the
    service's WORKER_MEMORY_BUDGET_MB (its default, or the value in the environment), else 1.5 GB."""
    if os.environ.get("BENCH_RSS_BUDGET_MB"):
        return int(float(os.environ["BENCH_RSS_BUDGET_MB"]) * 2**20), "BENCH_RSS_BUDGET_MB"
    from clients.settings import Settings

    field = Settings.model_fields.get("worker_memory_budget_mb")
    if field is not None:
        value = os.environ.get("WORKER_MEMORY_BUDGET_MB") or field.default
        return int(float(value) * 2**20), "the service's WORKER_MEMORY_BUDGET_MB"
    return DEFAULT_RSS_BUDGET_MB * 2**20, "default 1.5 GB"


async def warm_emulator(env: BenchEnv) -> None:
    """One 4K call, so the emulator encodes its 20 MB image before the clock runs."""
    body = {
        "contents": [{"role": "user", "parts": [{"text": "warm up"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"},
        },
    }
    async with httpx.AsyncClient(base_url=env.emulator.url, timeout=120) as client:
        response = await client.post(
            f"/v1beta/models/{MODEL}:generateContent", json=body, headers={"x-goog-api-key": "bench-warm-up"}
        )
        response.raise_for_status()


async def four_k(env: BenchEnv, ctx: Context) -> list[Row]:
    """N tasks x 2 variations at 4K with 20 MB images: worker memory, and reads during the run
    (of this project's tasks, and of the at-rest project's: the API under load)."""
    n = ctx.sizes.k4_tasks
    budget, budget_from = rss_budget()
    await _prepare(env, ctx, quota=None, realistic=True)
    await warm_emulator(env)
    await env.emulator.reset()
    tag = _tag("4k")
    peaks, stop = RssPeaks(), asyncio.Event()
    watched = {**env.worker_pids()}
    if env.api is not None and env.api.proc is not None:
        watched["api"] = env.api.proc.pid
    if env.emulator.proc is not None:
        watched["emulator"] = env.emulator.proc.pid
    kill_above = int(float(os.environ.get("BENCH_RSS_KILL_MB", "0")) * 2**20) or 2 * budget
    workers = frozenset(env.worker_pids())
    sampler = asyncio.create_task(sample_rss(watched, stop, peaks, kill_above, workers))
    lat = driver.Latencies()
    async with env.client() as client, env.client() as reader:
        batch = await driver.batch_endpoint(client)
        project = await driver.create_project(client, tag)
        body = {"n": 2, "image_size": "4K", "aspect_ratio": "16:9", "model": MODEL}
        ids: list[str] = []
        reads: list[tuple[str, Callable[[], str]]] = [
            ("get", lambda: f"/api/v1/tasks/{random.choice(ids)}"),
            ("list", lambda: f"/api/v1/projects/{project}/tasks"),
        ]
        if ctx.rest_project is not None:
            for kind, path in _reads(ctx.rest_project, ctx.rest_closed_ids):
                reads.append((f"rest {kind}", path))
        intake = await driver.create_tasks(client, project, driver.task_bodies(tag, n, **body), batch)
        ids.extend(intake.ids)
        prober = asyncio.create_task(driver.probe_reads(reader, reads, lat, stop, pause_s=0.2))
        closed = await driver.closed_workflows(env, project, n, timeout_s=300, stall_s=60)
        stop.set()
        await asyncio.gather(prober, sampler)
    delivered = await driver.delivered_images(env, project)
    await env.emulator.configure(realistic_bytes=False)
    makespan = closed.last_close - intake.started if closed.closed == n and closed.last_close else None
    worker_peaks = {name: rss for name, rss in peaks.peaks.items() if name in workers}
    worst = max(worker_peaks.values(), default=0)
    killed = sorted(set(peaks.killed) | set(_died(env)))
    per_worker = ", ".join(f"{name} {rss / 2**20:,.0f}" for name, rss in sorted(worker_peaks.items()))
    ctx.notes.append(
        f"4K: {delivered}/{2 * n} images delivered in {fmt(makespan)} s; peak RSS MB: {per_worker}, api "
        f"{peaks.peaks.get('api', 0) / 2**20:,.0f}, emulator {peaks.peaks.get('emulator', 0) / 2**20:,.0f}; "
        f"budget from {budget_from}; read errors {dict(lat.errors) or 0}"
        + (f"; DIED (guard at {kill_above / 2**20:,.0f} MB, or OOM): {', '.join(killed)}" if killed else "")
    )
    rows = [
        Row("4K", f"peak RSS per worker MB ({n} tasks x 2 at 4K, 20 MB images)", f"{worst / 2**20:,.0f}",
            target=f"<= {budget / 2**20:,.0f}", met=bool(worker_peaks) and worst <= budget and not killed),
        Row("4K", "images delivered", f"{delivered}/{2 * n}", target="all", met=delivered == 2 * n),
        Row("4K", "GET /tasks/{id} p99 ms during the run", ms(lat.p("get", 99)), target="<= 100",
            met=lat.p("get", 99) <= GET_TARGET_S),
        Row("4K", "list p99 ms during the run", ms(lat.p("list", 99)), target="<= 250",
            met=lat.p("list", 99) <= LIST_TARGET_S),
    ]  # fmt: skip
    if ctx.rest_project is not None:
        rows += [
            Row("under load", f"GET /tasks/{{id}} p50 / p99 ms ({ctx.sizes.rest_tasks} tasks, during 4K)",
                f"{ms(lat.p('rest get', 50))} / {ms(lat.p('rest get', 99))}", target="p99 <= 100",
                met=lat.p("rest get", 99) <= GET_TARGET_S),
            Row("under load", f"list p50 / p99 ms ({ctx.sizes.rest_tasks} tasks, during 4K)",
                f"{ms(lat.p('rest list', 50))} / {ms(lat.p('rest list', 99))}", target="p99 <= 250",
                met=lat.p("rest list", 99) <= LIST_TARGET_S),
        ]  # fmt: skip
    return rows


def _died(env: BenchEnv) -> list[str]:
    """Workers that died during the run (the guard's SIGKILL, or the kernel's OOM killer)."""
    return [w.name for w in env.workers if w.proc is not None and w.proc.poll() is not None]


Scenario = Callable[[BenchEnv, Context], Awaitable[list[Row]]]
SCENARIOS: dict[str, Scenario] = {
    "quota": quota,
    "fairness": fairness,
    "open": open_throughput,
    "intake": intake,
    "rest": at_rest,
    "4k": four_k,
}

"""`make bench`: every scenario of issue 10 on one embedded stack, printed as one table and
written to .studio/bench/<timestamp>.md.

Environment (all optional):
- BENCH_SCALE: sizes as a share of the issue's (default DEFAULT_SCALE = 0.5: 8-12 minutes on 2
  cores shared with other work; 1 = the issue's sizes, 15-20 minutes with today's service; 0.1
  for a quick check, about 4 minutes);
- BENCH_ONLY: comma-separated scenario names (or give them as arguments);
- BENCH_WORKERS: worker processes (default 2);
- BENCH_SERVICE_ENV: "NAME=value,..." added to the API's and workers' environment;
- BENCH_RSS_BUDGET_MB: the workers' memory target (default: the service's WORKER_MEMORY_BUDGET_MB);
- BENCH_RSS_KILL_MB: a worker past it is killed (default twice the budget; the machine is shared);
- BENCH_FILL_DURING_QUOTA: 1 fills the at-rest project while the quota scenario runs, which saves
  minutes but skews that scenario (the fill loads Temporal, through which the service paces its
  calls: 127 s -> 341 s for 120 images here); 0 (default) fills it in its own scenario;
- BENCH_KEEP_DIR: keep the processes' logs there; BENCH_TMP: where the stack lives (/dev/shm).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from tests.bench.env import BenchEnv
from tests.bench.fill import Filler
from tests.bench.report import Row, markdown, rich_table
from tests.bench.scenarios import SCENARIOS, Context, Sizes

SCENARIO_TIMEOUT_S = 900
# The largest scale that fits about 10 minutes here (2 cores, shared): the quota scenario alone
# takes at least 60 s per 60 images, and today's service needs 1.5-2x that.
DEFAULT_SCALE = 0.5


def _commit() -> str:
    """The commit measured, "+" when the working tree has changes (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return (head.stdout.strip() or "unknown") + (" + uncommitted changes" if dirty.stdout.strip() else "")


async def main(names: list[str]) -> int:
    # SIGTERM (e.g. `timeout`) cancels the run like Ctrl-C does, so every process it started
    # is stopped on the way out.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    scale = float(os.environ.get("BENCH_SCALE") or DEFAULT_SCALE)
    workers = int(os.environ.get("BENCH_WORKERS", "2") or 2)
    wanted = names or [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
    unknown = [n for n in wanted if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}", file=sys.stderr)
        return 2
    ctx = Context(Sizes.at(scale), workers)
    commit = _commit()
    rows: list[Row] = []
    started = time.monotonic()
    print(f"bench: scale {scale:g}, {workers} workers, sizes {ctx.sizes}", flush=True)
    async with BenchEnv.running(workers) as env:
        print(f"  stack up in {time.monotonic() - started:.0f} s (logs in {env.root})", flush=True)
        if not wanted or "rest" in wanted:
            ctx.filler = Filler(env, ctx.sizes.rest_tasks, ctx.sizes.rest_small_tasks)
            ctx.fill_during_quota = os.environ.get("BENCH_FILL_DURING_QUOTA", "0") == "1"
            await ctx.filler.start()
        for name, scenario in SCENARIOS.items():
            if wanted and name not in wanted:
                continue
            began = time.monotonic()
            print(f"running {name}...", flush=True)
            try:
                found = await asyncio.wait_for(scenario(env, ctx), SCENARIO_TIMEOUT_S)
            except Exception as exc:  # one broken scenario must not hide the others
                traceback.print_exc()
                found = [Row(name, "ERROR", f"{type(exc).__name__}: {exc}"[:200], met=False)]
            rows += found
            for row in found:
                print(f"  {row.metric}: {row.service} (peer {row.peer}, bound {row.bound}, target {row.target})")
            print(f"  {name} took {time.monotonic() - began:.0f} s", flush=True)
        if ctx.filler is not None:
            await ctx.filler.cancel()
    total = time.monotonic() - started
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    title = (
        f"Render Studio benchmark {stamp} (commit {commit}, scale {scale:g}, {workers} workers, "
        f"{os.cpu_count()} CPUs, {total:.0f} s)"
    )
    Console(width=200).print(rich_table(rows, title))
    for note in ctx.notes:
        print(f"- {note}")
    out = Path(".studio") / "bench" / f"{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(rows, title, ctx.notes))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(sys.argv[1:])))

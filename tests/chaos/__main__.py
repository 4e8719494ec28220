"""`make chaos`: run every fault scenario at full size and print the figures."""

from __future__ import annotations

import asyncio
import logging
import sys

from rich.console import Console
from rich.table import Table

from tests.chaos.harness import ChaosEnv
from tests.chaos.invariants import Report
from tests.chaos.scenarios import SCENARIOS, run

COLUMNS = (
    "scenario", "tasks", "succeeded", "failed (by code)", "lost", "duplicates", "orphans",
    "bad objects", "unexpected", "model calls / image", "HTTP 500", "HTTP 503", "recovery s",
)  # fmt: skip


def row(r: Report) -> list[str]:
    failed = ", ".join(f"{code} {n}" for code, n in sorted(r.failed.items())) or "0"
    counts = [r.tasks, r.succeeded, failed, r.lost, r.duplicates, r.orphans, r.bad_objects, r.unexpected]
    return [r.scenario, *map(str, counts), f"{r.calls_per_image:.2f}", str(r.http_500), str(r.http_503),
            f"{r.recovery_s:.1f}"]  # fmt: skip


def table(reports: list[Report]) -> Table:
    out = Table(title="Render Studio fault injection")
    for column in COLUMNS:
        out.add_column(column)
    for r in reports:
        out.add_row(*row(r))
    return out


async def main(names: list[str]) -> int:
    reports = []
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        print(f"running {scenario.name} ({scenario.tasks} tasks)...", flush=True)
        async with ChaosEnv.running(workers=scenario.workers) as env:
            reports.append(await run(env, scenario, scenario.tasks))
        print(f"  {reports[-1]}", flush=True)
    Console(width=220).print(table(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    # The emulator's uvicorn reports hung calls it cancels at shutdown; expected here.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    sys.exit(asyncio.run(main(sys.argv[1:])))

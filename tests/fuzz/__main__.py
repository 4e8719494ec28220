"""`make fuzz`: a long schemathesis run against a local stack, with a table of figures.

Starts the embedded stack with `studio api` and `studio worker` processes (as `make chaos`
does), seeds real resources and runs `st run` until FUZZ_MAX_TIME seconds are spent (default
600), FUZZ_MAX_EXAMPLES cases per operation and round (default 200), seed FUZZ_SEED (default:
random, printed). Reports (NDJSON events, JUnit XML, schemathesis' output) go to
.studio/fuzz/<timestamp>/. Exits 1 when a check failed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from tests.chaos.harness import ChaosEnv
from tests.fuzz.runner import ROOT, failures_section, fuzz


class FuzzEnv(ChaosEnv):
    """The chaos world without its faults: the processes talk to S3 directly (the fault proxy
    is for outages; it drops Content-Length, which reference images need) and task creation
    has a real but roomy rate limit."""

    def process_env(self) -> dict[str, str]:
        env = super().process_env()
        assert self.stack.endpoints is not None
        env["S3_ENDPOINT_URL"] = self.stack.endpoints.s3_endpoint_url
        env["TASK_CREATE_RATE_PER_MINUTE"] = os.environ.get("FUZZ_TASK_RATE", "600")
        return env


async def main() -> int:
    max_time = int(os.environ.get("FUZZ_MAX_TIME", "600"))
    max_examples = int(os.environ.get("FUZZ_MAX_EXAMPLES", "200"))
    seed = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None
    workdir = ROOT / ".studio" / "fuzz" / time.strftime("%Y%m%dT%H%M%S")
    print(f"fuzzing for {max_time} s, {max_examples} cases per operation and round; reports in {workdir}", flush=True)
    async with FuzzEnv.running(workers=1, deadline_s=120) as env:
        outcome = await fuzz(
            env.api_url,
            env.api_key,
            workdir,
            max_examples=max_examples,
            max_time_s=max_time,
            seed=seed,
            timeout_s=max_time + 600,
            echo=True,
        )
    print()
    print(outcome.table())
    if not outcome.ok:
        print("\nFailures, grouped by operation and check (one minimal request each):")
        print(outcome.failure_report())
        if not outcome.failures and not outcome.errors:
            print(failures_section(outcome.output))
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    sys.exit(asyncio.run(main()))

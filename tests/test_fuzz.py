"""Schemathesis against the real API, bounded: no server error and no schema violation.

About 1,500 requests over the 20 API operations in ~35 s: the examples phase (the known-hostile
inputs of tests/fuzz/corpus.py), the coverage phase (boundary values, missing and wrong-typed
fields, undeclared methods), fuzzing with FUZZ_MAX_EXAMPLES cases per operation (default 15) and
stateful sequences, with the checks in `tests.fuzz.runner.CHECKS`. The figures (cases and status
codes per operation) are printed even when the run passes (`pytest -s`) and written to
figures.txt next to schemathesis' reports in the test's tmp dir; a failure lists each failed
check with one minimal reproducing request, then schemathesis' own report with curl commands.
`make fuzz` runs the same harness for ten minutes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clients.settings import Settings
from db.session import SessionFactory
from db.users import create_user
from tests.fuzz.runner import failures_section, fuzz
from tests.helpers import serve_api

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None  # printed with the figures


@pytest.fixture
async def fuzz_api(settings: Settings, worker: None) -> AsyncIterator[str]:
    """The API on its own port, as a separate app instance of the session's stack and worker.

    Not the shared `api_server`: the failed-authentication throttle is in memory per app, and
    the run sends ~100 requests with missing or invalid keys from 127.0.0.1. On the shared server
    that would throttle the address for a minute, and every later test's fresh key would get 429.
    """
    async with serve_api(settings) as server:
        yield server.base_url


@pytest.mark.timeout(420)
async def test_schemathesis_finds_no_server_error_or_schema_violation(
    fuzz_api: str, sessions: SessionFactory, tmp_path: Path
) -> None:
    async with sessions() as session:
        _, api_key = await create_user(session, f"fuzz-{uuid.uuid4().hex[:8]}")
        await session.commit()

    # `st` runs as a subprocess awaited here, so this event loop keeps serving the API it calls
    # (a blocking in-process run would deadlock it); see tests/fuzz/runner.py. One worker thread:
    # with two, CPython 3.11's `ast` module, which schemathesis' coverage phase uses from both
    # threads, once raised "SystemError: AST constructor recursion depth mismatch" in CI.
    outcome = await fuzz(fuzz_api, api_key, tmp_path, max_examples=MAX_EXAMPLES, seed=SEED, timeout_s=330, workers=1)

    print("\n" + outcome.table())  # also in figures.txt, with the reports, under tmp_path
    if not outcome.ok:
        print("\n" + failures_section(outcome.output))  # schemathesis' own report, with curl commands
    details = outcome.failure_report() or outcome.output[-3000:]
    assert outcome.ok, f"schemathesis: {len(outcome.failures)} distinct failures ({outcome.workdir}):\n{details}"
    assert outcome.cases >= 20 * MAX_EXAMPLES

"""The worker process: registers `RenderTaskWorkflow` and its activities on the task queue.

Scaling out is Temporal's job: start more of these, on more machines, on the same task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.gemini import GeminiActivities, build_gemini_client
from activities.records import RecordActivities
from activities.storage import StorageActivities
from activities.webhook_delivery import WebhookActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import create_engine, create_session_factory
from workflows import registry

log = logging.getLogger(__name__)

# SIGTERM lets in-flight activities finish for this long (the SDK's default is 0: cancel at once).
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning with pinned workflows when WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID
    are set: a workflow runs to completion on the build it started on, so a new build can ship
    while tasks run. None (unversioned) otherwise."""
    if not (settings.worker_deployment_name and settings.worker_build_id):
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.worker_deployment_name, settings.worker_build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


@contextlib.asynccontextmanager
async def render_worker(client: Client, settings: Settings, task_queue: str | None = None) -> AsyncIterator[Worker]:
    """Yield a configured (not yet running) worker; closes its S3 and Postgres clients after."""
    engine = create_engine(settings.database_url)
    try:
        async with ObjectStore.open(settings) as store:
            gemini = GeminiActivities(build_gemini_client(settings), store)
            storage = StorageActivities(store)
            records = RecordActivities(create_session_factory(engine))
            webhooks = WebhookActivities(create_session_factory(engine), settings.studio_env == "development")
            yield Worker(
                client,
                task_queue=task_queue or settings.temporal_task_queue,
                workflows=registry.WORKFLOWS,
                activities=registry.activities(gemini, storage, records, webhooks),
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                deployment_config=deployment_config(settings),
            )
    finally:
        await engine.dispose()


async def wait_for_stop_signal() -> None:
    """Return on the first SIGINT or SIGTERM (handlers stay installed: a second one is ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_until_signalled(worker: Worker) -> None:
    """Run `worker` until SIGINT/SIGTERM, then shut down gracefully: polling stops at once and
    in-flight activities get GRACEFUL_SHUTDOWN to finish before they are cancelled."""
    run = asyncio.create_task(worker.run())
    stop = asyncio.create_task(wait_for_stop_signal())
    done, _ = await asyncio.wait({run, stop}, return_when=asyncio.FIRST_COMPLETED)
    if run in done:
        stop.cancel()
        run.result()  # the worker stopped by itself: raise its error
        return
    log.info("stop signal: shutting down, in-flight activities have %s to finish", GRACEFUL_SHUTDOWN)
    await worker.shutdown()
    await run

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
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerTuner

from activities.call_window import CallWindow
from activities.exports import ExportActivities
from activities.gemini import GeminiActivities, build_gemini_client
from activities.gemini_batch import BatchActivities
from activities.housekeeping import HousekeepingActivities
from activities.memory_budget import model_call_slots
from activities.quota_pacing import PacingInterceptor, QuotaPacer
from activities.records import RecordActivities
from activities.storage import StorageActivities
from activities.webhook_delivery import WebhookActivities
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import create_engine, create_session_factory
from kernel.catalog import MODELS
from kernel.contract import model_task_queue
from workflows import registry

log = logging.getLogger(__name__)

# SIGTERM lets in-flight activities finish for this long (the SDK's default is 0: cancel at once).
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
EXPORT_HEARTBEAT_THROTTLE = timedelta(seconds=1)


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


def worker_tuner(settings: Settings, model: str) -> WorkerTuner:
    """Slots of `model`'s queue worker: GEMINI_MAX_CONCURRENT_CALLS model calls at most, fewer
    when their images would not fit WORKER_MEMORY_BUDGET_MB (activities/memory_budget.py)."""
    slots = model_call_slots(
        settings.worker_memory_budget_mb, settings.worker_image_memory_mb, settings.gemini_max_concurrent_calls
    )
    return WorkerTuner.create_fixed(activity_slots=slots[model])


class WorkerGroup:
    """The workers of one process: the main task queue (workflows, prompt, storage, records,
    webhooks) and one paced queue per model (generate_image only). `run()` and `shutdown()` act
    on all of them, like a single `temporalio.worker.Worker`."""

    def __init__(self, main: Worker, model_workers: list[Worker], pacers: list[QuotaPacer]) -> None:
        self.main = main
        self.model_workers = model_workers
        self.pacers = pacers

    async def run(self) -> None:
        """Set each model queue's pace, then run every worker until shutdown; raises the first
        worker's error."""
        for pacer in self.pacers:
            await pacer.start()
        recovery = [asyncio.create_task(p.recover_forever()) for p in self.pacers]
        try:
            await asyncio.gather(self.main.run(), *(w.run() for w in self.model_workers))
        finally:
            for task in recovery:
                task.cancel()

    async def shutdown(self) -> None:
        """Graceful shutdown of every worker (in-flight activities get GRACEFUL_SHUTDOWN)."""
        await asyncio.gather(self.main.shutdown(), *(w.shutdown() for w in self.model_workers))


@contextlib.asynccontextmanager
async def render_worker(
    client: Client, settings: Settings, task_queue: str | None = None
) -> AsyncIterator[WorkerGroup]:
    """Yield the configured (not yet running) workers of one process; closes their S3 and
    Postgres clients after."""
    engine = create_engine(settings.database_url)
    queue = task_queue or settings.temporal_task_queue
    try:
        async with ObjectStore.open(settings) as store:
            window = CallWindow(
                create_session_factory(engine),
                settings.gemini_images_per_minute,
                client.service_client.config.runtime,
                by_model=settings.gemini_images_per_minute_by_model,
            )
            gemini = GeminiActivities(
                build_gemini_client(settings), store, window, project_label=settings.metrics_project_label
            )
            batch = BatchActivities(build_gemini_client(settings), store, settings)
            storage = StorageActivities(store)
            records = RecordActivities(create_session_factory(engine))
            webhooks = WebhookActivities(create_session_factory(engine), settings.studio_env == "development")
            main = Worker(
                client,
                task_queue=queue,
                workflows=registry.WORKFLOWS,
                # generate_image stays registered here for workflows recorded before the model
                # queues (patch V3_MODEL_QUEUE), which schedule it on their own queue, unpaced.
                activities=registry.activities(gemini, storage, records, webhooks, batch)
                + registry.export_activities(
                    ExportActivities(store, create_session_factory(engine)),
                    HousekeepingActivities(store, create_session_factory(engine)),
                ),
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                deployment_config=deployment_config(settings),
                # Exports report progress and take cancels through heartbeats: send them within a
                # second (the default waits up to 80% of the heartbeat timeout).
                max_heartbeat_throttle_interval=EXPORT_HEARTBEAT_THROTTLE,
                # Small: what is left on the server is dispatched fairly (see Settings).
                max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
                max_concurrent_activities=settings.worker_max_concurrent_activities,
            )
            pacers, model_workers = [], []
            for model in MODELS:
                pacer = QuotaPacer(
                    client, settings.temporal_namespace, model_task_queue(queue, model), model,
                    settings.images_per_minute(model),
                )  # fmt: skip
                pacers.append(pacer)
                model_workers.append(
                    Worker(
                        client,
                        task_queue=pacer.task_queue,
                        activities=[gemini.generate_image],
                        tuner=worker_tuner(settings, model),
                        interceptors=[PacingInterceptor(pacer)],
                        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                        deployment_config=deployment_config(settings),
                    )
                )
            yield WorkerGroup(main, model_workers, pacers)
    finally:
        await engine.dispose()


async def wait_for_stop_signal() -> None:
    """Return on the first SIGINT or SIGTERM (handlers stay installed: a second one is ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_until_signalled(worker: WorkerGroup) -> None:
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

"""The worker process: registers `RenderTaskWorkflow` and its activities on the task queue.

Scaling out is Temporal's job: start more of these, on more machines, on the same task queue.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.gemini import GeminiActivities, build_gemini_client
from activities.prompt import build_prompt
from activities.records import RecordActivities
from activities.storage import StorageActivities
from db.session import create_engine, create_session_factory
from studio.object_store import ObjectStore
from studio.settings import Settings
from workflows.render_task import RenderTaskWorkflow

log = logging.getLogger(__name__)

# SIGTERM lets in-flight activities finish for this long (the SDK's default is 0: cancel at once).
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


@contextlib.asynccontextmanager
async def render_worker(client: Client, settings: Settings, task_queue: str | None = None) -> AsyncIterator[Worker]:
    """Yield a configured (not yet running) worker; closes its S3 and Postgres clients after."""
    engine = create_engine(settings.database_url)
    try:
        async with ObjectStore.open(settings) as store:
            gemini = GeminiActivities(build_gemini_client(settings), store)
            storage = StorageActivities(store)
            records = RecordActivities(create_session_factory(engine))
            yield Worker(
                client,
                task_queue=task_queue or settings.temporal_task_queue,
                workflows=[RenderTaskWorkflow],
                activities=[build_prompt, gemini.generate_image, storage.publish_image, records.record_assets],
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            )
    finally:
        await engine.dispose()

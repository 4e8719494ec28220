"""Database errors mean what they say: bad data is the client's to fix (never a 503 that
invites endless retries), an outage is a 503, and a task whose row Postgres refuses leaves no
running workflow behind. Errors come from the real Postgres of the test stack."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from api.schemas import TaskCreate
from api.task_service import create_task
from clients.settings import Settings
from db.error_kinds import classify_db_error
from db.models import Project
from db.projects import create_project
from db.session import SessionFactory, create_engine, create_session_factory
from db.tasks import get_task
from db.users import create_user
from kernel import failure_codes
from kernel.contract import task_id_for_idempotency_key, workflow_id_for
from studio.localstack.ports import free_port
from tests.helpers import start_render_workflow


async def _error_of(sessions: SessionFactory, sql: str, **params: object) -> DBAPIError:
    async with sessions() as session:
        with pytest.raises(DBAPIError) as err:
            await session.execute(text(sql), params)
    return err.value


async def _project(sessions: SessionFactory) -> Project:
    async with sessions() as session:
        user, _ = await create_user(session, "db-errors")
        project = await create_project(session, user.id, "p", None, None, None)
        await session.commit()
        return project


async def test_real_postgres_errors_are_classified(sessions: SessionFactory) -> None:
    project = await _project(sessions)
    insert = (
        "INSERT INTO tasks (id, project_id, name, prompt, parameters, workflow_id) "
        "VALUES (:id, :project, :name, :prompt, '{}', :wf)"
    )
    nul = await _error_of(sessions, "SELECT CAST(:v AS text)", v="a\x00b")
    not_null = await _error_of(sessions, insert, id=uuid.uuid4(), project=project.id, name=None, prompt="p", wf="x")
    foreign = await _error_of(sessions, insert, id=uuid.uuid4(), project=uuid.uuid4(), name="n", prompt="p", wf="y")
    long_name = "n" * 300
    too_long = await _error_of(sessions, insert, id=uuid.uuid4(), project=project.id, name=long_name, prompt="", wf="z")

    assert classify_db_error(nul).kind == "invalid"
    assert classify_db_error(nul).sqlstate == "22021"
    assert (classify_db_error(not_null).kind, classify_db_error(not_null).subject) == ("invalid", "name")
    assert classify_db_error(foreign).kind == "conflict"
    assert classify_db_error(too_long).kind == "invalid"


async def test_an_unreachable_database_is_an_outage() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/studio")
    try:
        async with create_session_factory(engine)() as session:
            with pytest.raises(Exception) as err:
                await session.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert classify_db_error(err.value).kind == "unavailable"


async def test_a_task_row_postgres_refuses_terminates_the_workflow_it_started(
    sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """Creation past the API's validation (model_construct skips it, as a future field the
    edge forgot would): the row insert fails after the start, so the workflow is stopped."""
    project = await _project(sessions)
    body = TaskCreate.model_construct(
        **{**TaskCreate(name="t", prompt="a kite").model_dump(), "prompt": "a kite\x00 on a beach"}
    )
    async with sessions() as session:
        with pytest.raises(DBAPIError) as err:
            await create_task(
                session, sessions, temporal, settings, project.owner_id, project, body, idempotency_key="nul"
            )
        assert classify_db_error(err.value).kind == "invalid"

    task_id = task_id_for_idempotency_key(project.owner_id, "nul")
    description = await temporal.get_workflow_handle(workflow_id_for(task_id)).describe()
    # Terminated by the API, or already failed by its own non-retryable ensure_task_row.
    assert description.status in (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.FAILED)
    async with sessions() as session:
        assert await get_task(session, task_id) is None


async def test_ensure_task_row_fails_at_once_on_data_postgres_refuses(
    sessions: SessionFactory, temporal: Client, settings: Settings, worker: None
) -> None:
    project = await _project(sessions)
    started = time.monotonic()
    _, handle = await start_render_workflow(
        temporal, settings.temporal_task_queue, str(project.id), "a red\x00 bicycle", name="t"
    )

    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()

    assert time.monotonic() - started < 20  # not retried for the hour its durable policy allows
    activity_error = err.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError)
    assert activity_error.cause.type == failure_codes.INVALID_REQUEST
    assert activity_error.cause.non_retryable

"""Process-wide resources of the API, opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client

from api.auth_throttle import AuthThrottle
from api.task_status import TerminalStatuses
from clients.object_store import ObjectStore
from clients.settings import Settings
from db.session import SessionFactory


@dataclass
class ApiResources:
    """What request handlers need: settings, Postgres sessions, the Temporal client, S3, the
    process's failed-authentication throttle and its caches of closed workflows' statuses (as
    a describe derives them for one task, and as visibility gives them for a list)."""

    settings: Settings
    sessions: SessionFactory
    temporal: Client
    store: ObjectStore
    auth_throttle: AuthThrottle
    terminal_statuses: TerminalStatuses
    listed_terminal_statuses: TerminalStatuses = field(default_factory=TerminalStatuses)

"""Every table, re-exported for the repositories and for Alembic."""

from taskapi.models.base import metadata
from taskapi.models.events import events
from taskapi.models.idempotency import idempotency_keys
from taskapi.models.projects import project_members, projects
from taskapi.models.tasks import tasks
from taskapi.models.users import auth_sessions, refresh_tokens, users

__all__ = [
    "auth_sessions",
    "events",
    "idempotency_keys",
    "metadata",
    "project_members",
    "projects",
    "refresh_tokens",
    "tasks",
    "users",
]

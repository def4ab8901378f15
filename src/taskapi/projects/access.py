"""Who may do what in a project: the one place that answers it (tasks, search and sync use it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import Forbidden, NotFound

Role = Literal["owner", "editor", "viewer"]
WRITER_ROLES: frozenset[str] = frozenset({"owner", "editor"})

READABLE_PROJECT_IDS = (
    "SELECT m.project_id FROM project_members m JOIN projects p ON p.id = m.project_id"
    " WHERE m.user_id = :user_id AND m.removed_at IS NULL AND p.deleted_at IS NULL"
)
"""SQL for the ids of the live projects ``:user_id`` is a member of: embed it to scope a query."""

_ROLE = text(
    "SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id"
    " WHERE m.project_id = :project_id AND m.user_id = :user_id"
    " AND m.removed_at IS NULL AND p.deleted_at IS NULL"
)


# set by ``roles_read_once``: the roles read meanwhile, by (user, project)
_known_roles: ContextVar[dict[tuple[uuid.UUID, uuid.UUID], Role | None] | None] = ContextVar(
    "known_roles", default=None
)


@contextmanager
def roles_read_once() -> Iterator[None]:
    """Within the block each (user, project) role is read once: a batch of changes (bulk)
    checks access as of its first look, like one request does."""
    token = _known_roles.set({})
    try:
        yield
    finally:
        _known_roles.reset(token)


async def project_role(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> Role | None:
    """The user's role in a live project, or ``None`` if they may not see it."""
    known = _known_roles.get()
    if known is not None and (user_id, project_id) in known:
        return known[(user_id, project_id)]
    role: Role | None = (
        await conn.execute(_ROLE, {"user_id": user_id, "project_id": project_id})
    ).scalar()
    if known is not None:
        known[(user_id, project_id)] = role
    return role


async def require_reader(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> Role:
    """The role, or ``NotFound`` for a project the user may not see."""
    role = await project_role(conn, user_id=user_id, project_id=project_id)
    if role is None:
        raise NotFound("No such project")
    return role


async def require_writer(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> Role:
    """The role if it may change tasks; ``NotFound`` if unseen, ``Forbidden`` for a viewer."""
    role = await require_reader(conn, user_id=user_id, project_id=project_id)
    if role not in WRITER_ROLES:
        raise Forbidden("Viewers cannot change this project's tasks")
    return role


async def require_owner(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> Role:
    """The role if it is ``owner``; ``NotFound`` if unseen, ``Forbidden`` for anyone else."""
    role = await require_reader(conn, user_id=user_id, project_id=project_id)
    if role != "owner":
        raise Forbidden("Only the project's owner may do this")
    return role

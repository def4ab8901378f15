"""Who may do what in a project: the one place that answers it (tasks, search and sync use it)."""

from __future__ import annotations

import uuid
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


async def project_role(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> Role | None:
    """The user's role in a live project, or ``None`` if they may not see it."""
    role = (await conn.execute(_ROLE, {"user_id": user_id, "project_id": project_id})).scalar()
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

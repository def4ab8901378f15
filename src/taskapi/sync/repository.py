"""SQL for the sync snapshot: what a user may see now, scoped by ``READABLE_PROJECT_IDS``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.projects.access import READABLE_PROJECT_IDS
from taskapi.projects.repository import PROJECT_COLUMNS
from taskapi.tasks.repository import COLUMNS as TASK_COLUMNS


async def visible_projects(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[Any]:
    """The live projects the user is a member of, with the user's role, Inbox first."""
    rows = await conn.execute(
        text(
            f"SELECT {PROJECT_COLUMNS}, m.role FROM project_members m"
            " JOIN projects p ON p.id = m.project_id AND p.deleted_at IS NULL"
            " WHERE m.user_id = :user_id AND m.removed_at IS NULL"
            " ORDER BY NOT p.is_inbox, p.created_at, p.id"
        ),
        {"user_id": user_id},
    )
    return list(rows)


async def visible_memberships(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[Any]:
    """The active memberships of the user's visible projects."""
    rows = await conn.execute(
        text(
            "SELECT m.project_id, m.user_id, m.role, m.version, m.added_at,"
            " u.email, u.display_name"
            " FROM project_members m JOIN users u ON u.id = m.user_id"
            f" WHERE m.project_id IN ({READABLE_PROJECT_IDS}) AND m.removed_at IS NULL"
            " ORDER BY m.project_id, m.role <> 'owner', m.added_at, m.user_id"
        ),
        {"user_id": user_id},
    )
    return list(rows)


async def visible_users(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[Any]:
    """``{id, display_name}`` of everyone who is or was a member of a visible project."""
    rows = await conn.execute(
        text(
            "SELECT u.id, u.display_name FROM users u WHERE u.id IN ("
            " SELECT m.user_id FROM project_members m"
            f" WHERE m.project_id IN ({READABLE_PROJECT_IDS})) ORDER BY u.id"
        ),
        {"user_id": user_id},
    )
    return list(rows)


async def visible_tasks(
    conn: AsyncConnection, *, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[Any]:
    """The live tasks of the user's visible projects, in id order after ``after``."""
    rows = await conn.execute(
        text(
            f"SELECT {TASK_COLUMNS} FROM tasks t"
            f" WHERE t.project_id IN ({READABLE_PROJECT_IDS}) AND t.deleted_at IS NULL"
            " AND (CAST(:after AS uuid) IS NULL OR t.id > :after)"
            " ORDER BY t.id LIMIT :limit"
        ),
        {"user_id": user_id, "after": after, "limit": limit},
    )
    return list(rows)

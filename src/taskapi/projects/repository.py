"""SQL for projects and memberships."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.kit.time import format_utc

PROJECT_COLUMNS = (
    "p.id, p.owner_id, p.name, p.description, p.is_inbox, p.version, p.created_at, p.updated_at,"
    " p.deleted_at"
)


def project_data(row: Any) -> dict[str, Any]:
    """A project as JSON without the caller's role (event data, §6)."""
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "is_inbox": row.is_inbox,
        "created_at": format_utc(row.created_at),
        "updated_at": format_utc(row.updated_at),
        "version": row.version,
    }


async def insert_project(
    conn: AsyncConnection,
    *,
    project_id: uuid.UUID,
    owner_id: uuid.UUID,
    name: str,
    description: str,
    is_inbox: bool,
) -> Any:
    return (
        await conn.execute(
            text(
                "INSERT INTO projects AS p (id, owner_id, name, description, is_inbox)"
                " VALUES (:id, :owner_id, :name, :description, :is_inbox)"
                f" RETURNING {PROJECT_COLUMNS}"
            ),
            {
                "id": project_id,
                "owner_id": owner_id,
                "name": name,
                "description": description,
                "is_inbox": is_inbox,
            },
        )
    ).one()


async def insert_owner_membership(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    await conn.execute(
        text(
            "INSERT INTO project_members (project_id, user_id, role)"
            " VALUES (:project_id, :user_id, 'owner')"
        ),
        {"project_id": project_id, "user_id": user_id},
    )


async def owns_shared_project(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether the user owns a live project that has other active members."""
    return bool(
        (
            await conn.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM projects p JOIN project_members m"
                    " ON m.project_id = p.id AND m.removed_at IS NULL AND m.user_id <> p.owner_id"
                    " WHERE p.owner_id = :user_id AND p.deleted_at IS NULL)"
                ),
                {"user_id": user_id},
            )
        ).scalar_one()
    )


async def soft_delete_owned_projects(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[Any]:
    """Soft-deletes every live project the user owns; returns them as they now are."""
    rows = await conn.execute(
        text(
            "UPDATE projects p SET deleted_at = now(), deleted_by = :user_id, updated_at = now(),"
            " version = version + 1 WHERE owner_id = :user_id AND deleted_at IS NULL"
            f" RETURNING {PROJECT_COLUMNS}"
        ),
        {"user_id": user_id},
    )
    return list(rows)

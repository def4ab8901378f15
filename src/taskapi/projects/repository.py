"""SQL for projects and memberships."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.kit.time import format_utc

PROJECT_COLUMNS = (
    "p.id, p.owner_id, p.name, p.description, p.is_inbox, p.version, p.created_at, p.updated_at,"
    " p.deleted_at"
)
_MEMBER_COLUMNS = (
    "m.project_id, m.user_id, m.role, m.version, m.added_at, m.removed_at, u.email, u.display_name"
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


def member_data(row: Any) -> dict[str, Any]:
    """A membership as JSON (``member.*`` event data and the member list shape)."""
    return {
        "project_id": str(row.project_id),
        "user": {"id": str(row.user_id), "email": row.email, "display_name": row.display_name},
        "role": row.role,
        "added_at": format_utc(row.added_at),
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


async def joined_project_ids(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The live projects the user is an active member of without owning them."""
    rows = await conn.execute(
        text(
            "SELECT m.project_id FROM project_members m JOIN projects p ON p.id = m.project_id"
            " WHERE m.user_id = :user_id AND m.removed_at IS NULL AND m.role <> 'owner'"
            " AND p.deleted_at IS NULL ORDER BY m.project_id"
        ),
        {"user_id": user_id},
    )
    return [row.project_id for row in rows]


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


# ---------------------------------------------------------------- projects


async def get_project(conn: AsyncConnection, *, project_id: uuid.UUID) -> Any | None:
    """A project in any state (the caller has checked access)."""
    return (
        await conn.execute(
            text(f"SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = :id"), {"id": project_id}
        )
    ).one_or_none()


async def lock_project(conn: AsyncConnection, *, project_id: uuid.UUID) -> Any | None:
    """A project in any state, locked until the transaction ends (serialises its changes)."""
    return (
        await conn.execute(
            text(f"SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = :id FOR UPDATE"),
            {"id": project_id},
        )
    ).one_or_none()


async def list_projects(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    after: tuple[bool, datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """Live projects the user is an active member of, Inbox first, then by (created_at, id)."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = (
            " AND (NOT p.is_inbox, p.created_at, p.id) > (CAST(:not_inbox AS boolean),"
            " CAST(:created_at AS timestamptz), CAST(:id AS uuid))"
        )
        params.update(not_inbox=after[0], created_at=after[1], id=after[2])
    rows = await conn.execute(
        text(
            f"SELECT {PROJECT_COLUMNS}, m.role FROM project_members m"
            " JOIN projects p ON p.id = m.project_id AND p.deleted_at IS NULL"
            f" WHERE m.user_id = :user_id AND m.removed_at IS NULL{keyset}"
            " ORDER BY NOT p.is_inbox, p.created_at, p.id LIMIT :limit"
        ),
        params,
    )
    return list(rows)


async def update_project(
    conn: AsyncConnection, *, project_id: uuid.UUID, name: str, description: str
) -> Any:
    return (
        await conn.execute(
            text(
                "UPDATE projects p SET name = :name, description = :description,"
                " updated_at = now(), version = version + 1"
                f" WHERE p.id = :id RETURNING {PROJECT_COLUMNS}"
            ),
            {"id": project_id, "name": name, "description": description},
        )
    ).one()


async def set_owner(conn: AsyncConnection, *, project_id: uuid.UUID, owner_id: uuid.UUID) -> Any:
    return (
        await conn.execute(
            text(
                "UPDATE projects p SET owner_id = :owner_id, updated_at = now(),"
                f" version = version + 1 WHERE p.id = :id RETURNING {PROJECT_COLUMNS}"
            ),
            {"id": project_id, "owner_id": owner_id},
        )
    ).one()


async def mark_deleted(
    conn: AsyncConnection, *, project_id: uuid.UUID, deleted_by: uuid.UUID
) -> Any:
    return (
        await conn.execute(
            text(
                "UPDATE projects p SET deleted_at = now(), deleted_by = :deleted_by,"
                " updated_at = now(), version = version + 1"
                f" WHERE p.id = :id RETURNING {PROJECT_COLUMNS}"
            ),
            {"id": project_id, "deleted_by": deleted_by},
        )
    ).one()


async def mark_restored(conn: AsyncConnection, *, project_id: uuid.UUID) -> Any:
    return (
        await conn.execute(
            text(
                "UPDATE projects p SET deleted_at = NULL, deleted_by = NULL,"
                " updated_at = now(), version = version + 1"
                f" WHERE p.id = :id RETURNING {PROJECT_COLUMNS}"
            ),
            {"id": project_id},
        )
    ).one()


# ---------------------------------------------------------------- memberships


async def active_members(conn: AsyncConnection, *, project_id: uuid.UUID) -> list[Any]:
    """The project's active members, the owner first, then by when they were added."""
    rows = await conn.execute(
        text(
            f"SELECT {_MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.project_id = :project_id AND m.removed_at IS NULL"
            " ORDER BY m.role <> 'owner', m.added_at, m.user_id"
        ),
        {"project_id": project_id},
    )
    return list(rows)


async def active_member(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID
) -> Any | None:
    return (
        await conn.execute(
            text(
                f"SELECT {_MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.project_id = :project_id AND m.user_id = :user_id"
                " AND m.removed_at IS NULL"
            ),
            {"project_id": project_id, "user_id": user_id},
        )
    ).one_or_none()


async def active_user_id_by_email(conn: AsyncConnection, *, email: str) -> uuid.UUID | None:
    """The id of the non-deleted account with this email (case-insensitive)."""
    found: uuid.UUID | None = (
        await conn.execute(
            text("SELECT id FROM users WHERE lower(email) = lower(:email) AND deleted_at IS NULL"),
            {"email": email},
        )
    ).scalar()
    return found


async def add_member(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> Any | None:
    """Adds a member, or reactivates a removed one; ``None`` if already an active member."""
    return (
        await conn.execute(
            text(
                "WITH m AS (INSERT INTO project_members AS pm (project_id, user_id, role)"
                " VALUES (:project_id, :user_id, :role)"
                " ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role,"
                " removed_at = NULL, added_at = now(), version = pm.version + 1"
                " WHERE pm.removed_at IS NOT NULL RETURNING *)"
                f" SELECT {_MEMBER_COLUMNS} FROM m JOIN users u ON u.id = m.user_id"
            ),
            {"project_id": project_id, "user_id": user_id, "role": role},
        )
    ).one_or_none()


async def set_member_role(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> Any:
    return (
        await conn.execute(
            text(
                "WITH m AS (UPDATE project_members SET role = :role, version = version + 1"
                " WHERE project_id = :project_id AND user_id = :user_id AND removed_at IS NULL"
                " RETURNING *)"
                f" SELECT {_MEMBER_COLUMNS} FROM m JOIN users u ON u.id = m.user_id"
            ),
            {"project_id": project_id, "user_id": user_id, "role": role},
        )
    ).one()


async def remove_member(conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    return (
        await conn.execute(
            text(
                "WITH m AS (UPDATE project_members SET removed_at = now(), version = version + 1"
                " WHERE project_id = :project_id AND user_id = :user_id AND removed_at IS NULL"
                " RETURNING *)"
                f" SELECT {_MEMBER_COLUMNS} FROM m JOIN users u ON u.id = m.user_id"
            ),
            {"project_id": project_id, "user_id": user_id},
        )
    ).one()

"""Project rules: creation (the Inbox too), sharing, soft delete and restore."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.events import writer
from taskapi.kit.ids import uuid7
from taskapi.kit.time import format_utc
from taskapi.projects import repository

INBOX_NAME = "Inbox"


async def create_project(
    conn: AsyncConnection,
    *,
    owner_id: uuid.UUID,
    name: str,
    description: str = "",
    is_inbox: bool = False,
) -> Any:
    """Creates a project owned by ``owner_id`` (its owner membership and its event too)."""
    row = await repository.insert_project(
        conn,
        project_id=uuid7(),
        owner_id=owner_id,
        name=name,
        description=description,
        is_inbox=is_inbox,
    )
    await repository.insert_owner_membership(conn, project_id=row.id, user_id=owner_id)
    await writer.record(
        conn,
        type="project.created",
        entity="project",
        entity_id=row.id,
        project_id=row.id,
        version=row.version,
        actor_id=owner_id,
        data=repository.project_data(row),
    )
    return row


async def delete_projects_of_departing_user(conn: AsyncConnection, *, user_id: uuid.UUID) -> None:
    """Soft-deletes the projects of a user who deactivates (the Inbox, and unshared ones)."""
    for row in await repository.soft_delete_owned_projects(conn, user_id=user_id):
        await writer.record(
            conn,
            type="project.deleted",
            entity="project",
            entity_id=row.id,
            project_id=row.id,
            version=row.version,
            actor_id=user_id,
            data={
                "id": str(row.id),
                "project_id": str(row.id),
                "version": row.version,
                "deleted_at": format_utc(row.deleted_at),
            },
        )


async def owns_shared_project(conn: AsyncConnection, *, user_id: uuid.UUID) -> bool:
    return await repository.owns_shared_project(conn, user_id)

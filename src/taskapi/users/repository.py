from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def co_member(
    conn: AsyncConnection, *, viewer_id: uuid.UUID, user_id: uuid.UUID
) -> Any | None:
    """``{id, display_name}`` of a user who is or was a member of a project the viewer sees."""
    return (
        await conn.execute(
            text(
                "SELECT u.id, u.display_name FROM users u WHERE u.id = :user_id AND EXISTS ("
                " SELECT 1 FROM project_members theirs"
                " JOIN project_members mine ON mine.project_id = theirs.project_id"
                " AND mine.user_id = :viewer_id AND mine.removed_at IS NULL"
                " JOIN projects p ON p.id = mine.project_id AND p.deleted_at IS NULL"
                " WHERE theirs.user_id = u.id)"
            ),
            {"user_id": user_id, "viewer_id": viewer_id},
        )
    ).one_or_none()

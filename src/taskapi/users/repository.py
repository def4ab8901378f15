"""Other users as co-members see them: the one query behind ``GET /users/{id}``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.projects.access import READABLE_PROJECT_IDS

_CO_MEMBER = text(
    "SELECT u.id, u.display_name FROM users u WHERE u.id = :member_id AND EXISTS ("
    " SELECT 1 FROM project_members theirs WHERE theirs.user_id = u.id"
    f" AND theirs.project_id IN ({READABLE_PROJECT_IDS}))"
)


async def co_member(
    conn: AsyncConnection, *, viewer_id: uuid.UUID, user_id: uuid.UUID
) -> Any | None:
    """``{id, display_name}`` of a user who is or was a member of a project the viewer sees."""
    return (
        await conn.execute(_CO_MEMBER, {"member_id": user_id, "user_id": viewer_id})
    ).one_or_none()

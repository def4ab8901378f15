"""Sync rules (API.md §7): a paged snapshot with a fixed cursor, then the changes after a cursor.

The snapshot's cursor is the log position taken before anything is read, so every change that
the snapshot may have missed comes after it; changes the snapshot already holds come again and
the client's version rule settles them (DESIGN.md "Ordering of events without gaps").
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import InvalidCursor
from taskapi.events.reader import EventCursors, current_position, events_after
from taskapi.kit.cursors import CursorCodec
from taskapi.projects.repository import member_data, project_data
from taskapi.sync import repository
from taskapi.tasks.repository import task_json

_PAGE_CURSOR_VERSION = 1


async def snapshot_page(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    event_cursors: EventCursors,
    page_cursors: CursorCodec,
    page_cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """One page of the caller's snapshot; the first page also holds projects, members, users.

    The connection must not have written: the log position is read from its snapshot horizon.
    """
    if page_cursor is None:
        # fixed before the first read, so nothing committed later can fall between the two
        cursor = event_cursors.encode(await current_position(conn))
        after: uuid.UUID | None = None
    else:
        cursor, after = _decode_page_cursor(
            page_cursors, page_cursor, user_id=user_id, event_cursors=event_cursors
        )
    rows = await repository.visible_tasks(conn, user_id=user_id, after=after, limit=limit + 1)
    next_page = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_page = page_cursors.encode(
            {"v": _PAGE_CURSOR_VERSION, "u": str(user_id), "c": cursor, "a": str(rows[-1].id)}
        )
    page: dict[str, Any] = {
        "projects": [],
        "tasks": [task_json(row) for row in rows],
        "memberships": [],
        "users": [],
        "cursor": cursor,
        "page_cursor": next_page,
    }
    if page_cursor is None:
        page["projects"] = [
            {**project_data(row), "role": row.role}
            for row in await repository.visible_projects(conn, user_id=user_id)
        ]
        page["memberships"] = [
            {**member_data(row), "version": row.version}
            for row in await repository.visible_memberships(conn, user_id=user_id)
        ]
        page["users"] = [
            {"id": str(row.id), "display_name": row.display_name}
            for row in await repository.visible_users(conn, user_id=user_id)
        ]
    return page


async def changes_after(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    event_cursors: EventCursors,
    cursor: str,
    limit: int,
) -> dict[str, Any]:
    """The changes after ``cursor`` the caller may see, in log order, at most ``limit``.

    The connection must not have written: its own transaction would hold back the horizon.
    """
    position = event_cursors.decode(cursor)
    batch = await events_after(conn, position, visible_to=user_id, limit=limit)
    return {
        "changes": [event.change(event_cursors.encode(event.position)) for event in batch.events],
        "cursor": event_cursors.encode(batch.position),
        "has_more": batch.has_more,
    }


def _decode_page_cursor(
    codec: CursorCodec, token: str, *, user_id: uuid.UUID, event_cursors: EventCursors
) -> tuple[str, uuid.UUID]:
    """The snapshot's event cursor and the last task id of the previous page."""
    payload = codec.decode(token)
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _PAGE_CURSOR_VERSION
        or payload.get("u") != str(user_id)
        or not isinstance(payload.get("c"), str)
        or not isinstance(payload.get("a"), str)
    ):
        raise InvalidCursor("The page cursor is malformed or belongs to another user")
    cursor: str = payload["c"]
    event_cursors.decode(cursor)  # a snapshot older than the retention cannot be caught up
    try:
        after = uuid.UUID(payload["a"])
    except ValueError:  # pragma: no cover - signed payloads are ours
        raise InvalidCursor("The page cursor is malformed") from None
    return cursor, after

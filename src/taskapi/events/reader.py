"""Reading the log: ``events_after`` is the one place that answers "what changed since".

Events are handed out in (transaction id, event id) order and only below the oldest transaction
still in flight, so a reader never skips an event whose transaction commits late, and never
repeats one (see DESIGN.md "Ordering of events without gaps").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import CursorExpired, InvalidCursor
from taskapi.kit.cursors import CursorCodec
from taskapi.kit.time import format_utc


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the log: after every event ordered at or before ``(xid, event_id)``."""

    xid: int
    event_id: int


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    xid: int
    project_id: uuid.UUID
    entity: str
    entity_id: uuid.UUID
    version: int
    type: str
    actor_id: uuid.UUID | None
    data: dict[str, Any]
    changes: dict[str, Any] | None
    target_user_id: uuid.UUID | None
    hidden_from_project_id: uuid.UUID | None
    ts: datetime

    @property
    def position(self) -> Position:
        return Position(self.xid, self.id)

    def change(self, cursor: str) -> dict[str, Any]:
        """The change shape of API.md §6."""
        return {
            "event_id": self.id,
            "cursor": cursor,
            "event": self.type,
            "entity": self.entity,
            "id": str(self.entity_id),
            "version": self.version,
            "project_id": str(self.project_id),
            "actor_id": None if self.actor_id is None else str(self.actor_id),
            "data": self.data,
            "ts": format_utc(self.ts),
        }


@dataclass(frozen=True, slots=True)
class Batch:
    events: list[Event]
    position: Position
    has_more: bool


class EventCursors:
    """Opaque cursors for log positions, shared by sync and the WebSocket."""

    def __init__(self, secret: str, *, retention_days: int) -> None:
        self._codec = CursorCodec(secret, purpose="events")
        self._retention_seconds = retention_days * 86_400

    def encode(self, position: Position) -> str:
        return self._codec.encode([position.xid, position.event_id, int(time.time())])

    def decode(self, cursor: str) -> Position:
        """The position of a cursor; ``InvalidCursor`` if forged, ``CursorExpired`` if too old."""
        payload = self._codec.decode(cursor)
        if (
            not isinstance(payload, list)
            or len(payload) != 3
            or not all(isinstance(part, int) and part >= 0 for part in payload)
        ):
            raise InvalidCursor("The cursor is malformed")
        xid, event_id, issued_at = payload
        if issued_at < time.time() - self._retention_seconds:
            raise CursorExpired("The cursor is older than the event retention; resync in full")
        return Position(xid, event_id)


_COLUMNS = """
    e.id, e.xid::text::bigint AS xid, e.project_id, e.entity, e.entity_id, e.version, e.type,
    e.actor_id, e.data, e.changes, e.target_user_id, e.hidden_from_project_id, e.ts
"""

# the projects whose events a user sees: current membership, checked at read time
_VISIBLE = """
    (e.target_user_id = :user_id
     OR (e.target_user_id IS NULL
         AND e.project_id IN (SELECT m.project_id FROM project_members m
                              WHERE m.user_id = :user_id AND m.removed_at IS NULL)
         AND (e.hidden_from_project_id IS NULL
              OR e.hidden_from_project_id NOT IN (
                  SELECT m.project_id FROM project_members m
                  WHERE m.user_id = :user_id AND m.removed_at IS NULL))))
"""

_HORIZON = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


async def current_position(conn: AsyncConnection) -> Position:
    """The safe position now: every event committed so far is at or before it."""
    horizon = (await conn.execute(_HORIZON)).scalar_one()
    return Position(int(horizon), 0)


async def events_after(
    conn: AsyncConnection,
    position: Position,
    *,
    visible_to: uuid.UUID | None,
    project_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 500,
) -> Batch:
    """Committed events after ``position`` in log order, at most ``limit``.

    ``visible_to`` keeps only what that user may see now (``None``: every event, for the fan-out,
    which checks access per connection). ``project_ids`` narrows to those projects (a subscribed
    socket). The returned position is where the next call continues.

    The connection must not have written in its transaction: its own id would hold the horizon.
    """
    conditions = [
        "(e.xid, e.id) > (CAST(CAST(CAST(:xid AS bigint) AS text) AS xid8), :event_id)",
        "e.xid < h.xmin",
    ]
    params: dict[str, Any] = {"xid": position.xid, "event_id": position.event_id, "limit": limit}
    if visible_to is not None:
        conditions.append(_VISIBLE)
        params["user_id"] = visible_to
    if project_ids is not None:
        conditions.append("(e.project_id = ANY(:project_ids) OR e.target_user_id IS NOT NULL)")
        params["project_ids"] = list(project_ids)
    # the horizon and the events must come from one snapshot: a horizon read in a later
    # statement could pass an event that committed in between
    statement = text(
        "SELECT h.xmin::text::bigint AS horizon, e.* FROM"
        " (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h"
        f" LEFT JOIN LATERAL (SELECT {_COLUMNS} FROM events e"
        f" WHERE {' AND '.join(conditions)} ORDER BY e.xid, e.id LIMIT :limit) e ON true"
    )
    rows = (await conn.execute(statement, params)).mappings().all()
    horizon = Position(int(rows[0]["horizon"]), 0)
    events = [_event(row) for row in rows if row["id"] is not None]
    if len(events) == limit:
        return Batch(events, events[-1].position, True)
    # everything below the horizon was read: continue from the horizon itself
    return Batch(events, max(horizon, position), False)


async def history(
    conn: AsyncConnection, *, entity_id: uuid.UUID, before_id: int | None, limit: int
) -> list[Event]:
    """One entity's events, newest first (the task history)."""
    statement = text(
        f"SELECT {_COLUMNS} FROM events e WHERE e.entity_id = :entity_id"
        " AND (CAST(:before_id AS bigint) IS NULL OR e.id < :before_id)"
        " ORDER BY e.id DESC LIMIT :limit"
    )
    rows = await conn.execute(
        statement, {"entity_id": entity_id, "before_id": before_id, "limit": limit}
    )
    return [_event(row) for row in rows.mappings()]


def _event(row: Any) -> Event:
    return Event(
        id=row["id"],
        xid=row["xid"],
        project_id=row["project_id"],
        entity=row["entity"],
        entity_id=row["entity_id"],
        version=row["version"],
        type=row["type"],
        actor_id=row["actor_id"],
        data=row["data"],
        changes=row["changes"],
        target_user_id=row["target_user_id"],
        hidden_from_project_id=row["hidden_from_project_id"],
        ts=row["ts"],
    )

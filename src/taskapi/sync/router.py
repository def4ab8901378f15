"""`/api/v1/sync`: the mobile client's snapshot and delta sync (API.md §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from taskapi.auth.dependencies import CurrentUser
from taskapi.db import SessionDep
from taskapi.errors import ValidationFailed
from taskapi.events.reader import EventCursors
from taskapi.kit.cursors import CursorCodec
from taskapi.sync import service
from taskapi.sync.schemas import SyncChanges, SyncSnapshot

router = APIRouter(tags=["sync"])

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

_DESCRIPTION = """
Without `cursor`: a snapshot, paged. The first page holds the visible `projects` (with the
caller's `role`), their active `memberships`, the `users` who are or were members, and the first
`limit` live tasks (in id order); each further page (`GET /sync?page_cursor=…`) holds only
`tasks`. `page_cursor` is `null` on the last page. `cursor` is fixed before the first page and
is the same on every page: after the last page, catch up with `GET /sync?cursor=…`.

With `cursor`: `{changes, cursor, has_more}`, every change after the cursor that the caller may
see, in log order, at most `limit`. Apply a change only when its `version` is newer than the one
held. `has_more: true` means call again at once with the returned `cursor`.

A malformed or tampered cursor is `400 invalid-cursor`; one older than the event retention is
`410 cursor-expired` (resync in full).
"""


def page_cursor_codec(request: Request) -> CursorCodec:
    """The snapshot page-cursor codec of this app, built once."""
    state = request.app.state
    codec: CursorCodec | None = getattr(state, "sync_page_cursors", None)
    if codec is None:
        codec = CursorCodec(state.settings.resolved_secret_key(), purpose="sync-snapshot")
        state.sync_page_cursors = codec
    return codec


@router.get(
    "/sync",
    description=_DESCRIPTION,
    responses={
        400: {"description": "Malformed or tampered cursor"},
        410: {"description": "Cursor older than the event retention"},
    },
)
async def sync(
    request: Request,
    principal: CurrentUser,
    conn: SessionDep,
    cursor: str | None = None,
    page_cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> SyncSnapshot | SyncChanges:
    """A snapshot page, or the changes after a cursor."""
    event_cursors: EventCursors = request.app.state.event_cursors
    if cursor is not None:
        if page_cursor is not None:
            raise ValidationFailed.at(
                ["query", "page_cursor"], "send either cursor or page_cursor, not both"
            )
        changes = await service.changes_after(
            conn, user_id=principal.id, event_cursors=event_cursors, cursor=cursor, limit=limit
        )
        return SyncChanges.model_validate(changes)
    page = await service.snapshot_page(
        conn,
        user_id=principal.id,
        event_cursors=event_cursors,
        page_cursors=page_cursor_codec(request),
        page_cursor=page_cursor,
        limit=limit,
    )
    return SyncSnapshot.model_validate(page)

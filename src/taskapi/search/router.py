"""`/api/v1` routes of the search domain."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from taskapi.auth.dependencies import CurrentUser
from taskapi.db import SessionDep
from taskapi.kit.cursors import CursorCodec
from taskapi.search import service
from taskapi.search.schemas import SearchPage
from taskapi.tasks.schemas import Status

router = APIRouter(tags=["search"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The cursor is malformed, or belongs to another query or filters"},
    404: {"description": "`project_id` names no project you may see"},
    422: {"description": "Bad `q` (blank, over 500 characters, NUL, only exclusions) or filters"},
}


def _cursors(request: Request) -> CursorCodec:
    state = request.app.state
    codec: CursorCodec | None = getattr(state, "search_cursors", None)
    if codec is None:
        codec = CursorCodec(state.settings.resolved_secret_key(), purpose="search")
        state.search_cursors = codec
    return codec


@router.get("/search", response_model=SearchPage, responses=_PROBLEMS)
async def search(
    request: Request,
    conn: SessionDep,
    principal: CurrentUser,
    q: Annotated[
        str,
        Query(
            max_length=service.MAX_QUERY_LENGTH,
            description='Words, stemmed; `"exact phrase"`, `or`, `-exclude`. A bare last word of'
            " 3+ characters also matches as a prefix (type-ahead). Blank, over 500 characters,"
            " holding NUL, or nothing but exclusions: 422.",
        ),
    ],
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[list[Status] | None, Query(description="Any of these")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, object]:
    """Search the caller's tasks by words, best match first."""
    return await service.search_tasks(
        conn,
        user_id=principal.id,
        config=request.app.state.settings.search_config,
        cursors=_cursors(request),
        q=q,
        project_id=project_id,
        statuses=list(status) if status else None,
        limit=limit,
        cursor=cursor,
    )

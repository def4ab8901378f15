"""`/api/v1` routes of the tasks domain: CRUD, lists, trash, restore and history (API.md §4)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, status
from pydantic import AfterValidator, Field, StringConstraints
from starlette.responses import Response

from taskapi.auth.dependencies import CurrentUser
from taskapi.db import SessionDep
from taskapi.errors import ValidationFailed
from taskapi.idempotency import JsonAnswer, idempotent
from taskapi.tasks import service
from taskapi.tasks.dependencies import TaskCursorsDep
from taskapi.tasks.schemas import (
    DueInstant,
    HistoryPage,
    SortKey,
    Status,
    Task,
    TaskCreate,
    TaskPage,
    TaskPatch,
    TrashPage,
    no_nul,
)
from taskapi.versioning import etag, expected_version

router = APIRouter(tags=["tasks"])

Limit = Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")]
PriorityFilter = Annotated[int, Field(ge=0, le=4)]
TagFilter = Annotated[str, StringConstraints(max_length=100), AfterValidator(no_nul)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "A viewer tried to change the project's tasks"},
    404: {"description": "No such task, or you may not see it"},
    422: {"description": "The body is not valid (with the location of each problem)"},
}


def _json(body: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, headers=headers, media_type="application/json"
    )


def _task_response(task: dict[str, Any]) -> Response:
    return _json(task, headers={"ETag": etag(task["version"])})


def _matches(if_none_match: str, current: str) -> bool:
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == current:
            return True
    return False


def _parent_filter(value: str | None) -> uuid.UUID | str | None:
    if value is None or value == "null":
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed.at(
            ["query", "parent_id"], "parent_id must be a UUID or null", "uuid_parsing"
        ) from None


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=Task,
    responses=_PROBLEMS,
)
async def create_task(
    body: TaskCreate, request: Request, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Create a task; without `project_id` it goes to your Inbox. Honours `Idempotency-Key`."""
    raw_body = await request.json()

    async def produce() -> JsonAnswer:
        task = await service.create_task(conn, actor_id=principal.id, data=body)
        headers = {"Location": f"/api/v1/tasks/{task['id']}", "ETag": etag(task["version"])}
        return JsonAnswer(status.HTTP_201_CREATED, task, headers)

    return await idempotent(request, conn, user_id=principal.id, body=raw_body, produce=produce)


@router.get("/tasks", response_model=TaskPage, responses={404: _PROBLEMS[404]})
async def list_tasks(
    principal: CurrentUser,
    conn: SessionDep,
    cursors: TaskCursorsDep,
    project_id: uuid.UUID | None = None,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    priority: Annotated[list[PriorityFilter] | None, Query()] = None,
    tag: Annotated[list[TagFilter] | None, Query()] = None,
    assignee_id: uuid.UUID | None = None,
    parent_id: Annotated[
        str | None, Query(description="A task id, or `null` for top-level tasks")
    ] = None,
    due_before: Annotated[DueInstant | None, Query(description="exclusive")] = None,
    due_after: Annotated[DueInstant | None, Query(description="inclusive")] = None,
    sort: SortKey = "-created_at",
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    """List the tasks you can see (all visible projects without `project_id`), keyset-paged.

    Repeated `status`, `priority` or `tag` mean any of them; different parameters combine with
    AND. `tag` matches case-insensitively; `due_after` is inclusive and `due_before` exclusive
    (a `due_date` counts as 00:00Z that day). `sort` puts nulls last either way and breaks ties
    by id. A cursor only fits the filters and sort it was issued for.
    """
    filters = service.TaskFilters(
        project_id=project_id,
        statuses=tuple(status_ or ()),
        priorities=tuple(priority or ()),
        tags=tuple(tag or ()),
        assignee_id=assignee_id,
        parent_id=_parent_filter(parent_id),  # type: ignore[arg-type]
        due_before=due_before,
        due_after=due_after,
    )
    page = await service.list_tasks(
        conn,
        user_id=principal.id,
        filters=filters,
        sort=sort,
        limit=limit,
        cursor=cursor,
        codec=cursors.tasks,
    )
    return _json({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/trash", response_model=TrashPage, responses={403: _PROBLEMS[403], 404: _PROBLEMS[404]}
)
async def list_trash(
    principal: CurrentUser,
    conn: SessionDep,
    cursors: TaskCursorsDep,
    project_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    """The roots of deletions, newest first: tasks for editors and owners, projects for owners."""
    page = await service.trash(
        conn,
        user_id=principal.id,
        project_id=project_id,
        limit=limit,
        cursor=cursor,
        codec=cursors.trash,
    )
    return _json({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/tasks/{task_id}",
    response_model=Task,
    responses={
        304: {"description": "If-None-Match names the current version"},
        404: _PROBLEMS[404],
    },
)
async def get_task(
    task_id: uuid.UUID,
    principal: CurrentUser,
    conn: SessionDep,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """One task, with its `ETag`; `If-None-Match` with the current ETag answers 304."""
    task = await service.get_task(conn, user_id=principal.id, task_id=task_id)
    tag = etag(task["version"])
    if if_none_match is not None and _matches(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return _task_response(task)


@router.patch(
    "/tasks/{task_id}",
    response_model=Task,
    responses={
        **_PROBLEMS,
        409: {"description": "Stale body version (`current` holds the task)"},
        412: {"description": "Stale If-Match (`current` holds the task)"},
        428: {"description": "Neither `version` nor If-Match was given"},
    },
)
async def update_task(
    task_id: uuid.UUID,
    body: TaskPatch,
    principal: CurrentUser,
    conn: SessionDep,
    if_match: IfMatch = None,
) -> Response:
    """Change a task with a JSON merge patch; state the version you read (body or If-Match).

    `null` clears `parent_id`, `assignee_id`, `due_at`, `due_date`, `description` and `tags`.
    Moving to another `project_id` takes the subtasks along and needs editor rights on both.
    """
    expected = expected_version(body_version=body.version, if_match=if_match)
    patch = {name: getattr(body, name) for name in body.model_fields_set if name != "version"}
    task = await service.update_task(
        conn, actor_id=principal.id, task_id=task_id, patch=patch, expected=expected
    )
    return _task_response(task)


@router.delete(
    "/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_PROBLEMS, 412: {"description": "Stale If-Match"}},
)
async def delete_task(
    task_id: uuid.UUID, principal: CurrentUser, conn: SessionDep, if_match: IfMatch = None
) -> Response:
    """Move a task and its subtasks to the trash; deleting a deleted task changes nothing."""
    expected = expected_version(body_version=None, if_match=if_match, required=False)
    await service.delete_task(conn, actor_id=principal.id, task_id=task_id, expected=expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/tasks/{task_id}/restore",
    response_model=Task,
    responses={**_PROBLEMS, 409: {"description": "The parent task is deleted"}},
)
async def restore_task(task_id: uuid.UUID, principal: CurrentUser, conn: SessionDep) -> Response:
    """Bring a task back from the trash with what was deleted with it; a live task is unchanged."""
    task = await service.restore_task(conn, actor_id=principal.id, task_id=task_id)
    return _task_response(task)


@router.get("/tasks/{task_id}/history", response_model=HistoryPage, responses={404: _PROBLEMS[404]})
async def task_history(
    task_id: uuid.UUID,
    principal: CurrentUser,
    conn: SessionDep,
    cursors: TaskCursorsDep,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    """A task's changes, newest first: who, what (`{field: {before, after}}`) and when."""
    page = await service.history(
        conn,
        user_id=principal.id,
        task_id=task_id,
        limit=limit,
        cursor=cursor,
        codec=cursors.history,
    )
    return _json({"items": page.items, "next_cursor": page.next_cursor})

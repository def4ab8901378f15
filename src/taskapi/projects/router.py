"""`/api/v1` routes of the projects domain: projects, members and sharing (API.md §3).

Behaviour the contract leaves open, decided here:

- ``DELETE /projects/{id}`` of a project already deleted answers ``204`` unchanged to its owner
  and ``404`` to everyone else; ``GET``/``PATCH`` and member routes of a deleted project: ``404``.
- ``POST /projects/{id}/restore`` of a live project answers ``200`` with it unchanged.
- ``DELETE /projects/{id}`` accepts an optional ``If-Match`` (``412`` when stale).
- The ``ETag`` of a project is its version; a change of the caller's role alone does not change it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status

from taskapi.auth.dependencies import CurrentUser
from taskapi.db import SessionDep
from taskapi.errors import InvalidCursor
from taskapi.idempotency import JsonAnswer, idempotent
from taskapi.kit.cursors import CursorCodec
from taskapi.kit.schemas import Page
from taskapi.projects import service
from taskapi.projects.schemas import (
    Member,
    MemberCreate,
    Members,
    MemberUpdate,
    Project,
    ProjectCreate,
    ProjectUpdate,
)
from taskapi.versioning import etag

router = APIRouter(tags=["projects"])

Responses = dict[int | str, dict[str, Any]]

_NOT_FOUND: Responses = {404: {"description": "No such project, or you are not a member"}}
_FORBIDDEN: Responses = {403: {"description": "Your role may not do this"}}
_CONFLICT: Responses = {409: {"description": "Inbox and owner rules, or already a member"}}
_VERSIONED: Responses = {
    409: {"description": "Stale version (carries `current`), or the Inbox cannot be renamed"},
    412: {"description": "Stale If-Match (carries `current`)"},
    428: {"description": "Neither `version` nor If-Match was given"},
}

IfMatch = Annotated[str | None, Header(description='The version you read, as "<version>"')]
IfNoneMatch = Annotated[str | None, Header()]


def _codec(request: Request) -> CursorCodec:
    codec: CursorCodec | None = getattr(request.app.state, "project_cursors", None)
    if codec is None:
        secret = request.app.state.settings.resolved_secret_key()
        codec = CursorCodec(secret, purpose="projects")
        request.app.state.project_cursors = codec
    return codec


def _decode_cursor(
    codec: CursorCodec, cursor: str, user_id: uuid.UUID
) -> tuple[bool, datetime, uuid.UUID]:
    payload = codec.decode(cursor)
    try:
        owner, not_inbox, created_at, last_id = payload
        if owner != str(user_id) or not isinstance(not_inbox, bool):
            raise ValueError("cursor of another user")
        return not_inbox, datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except (TypeError, ValueError):
        raise InvalidCursor("The cursor was not issued for this list") from None


def _project(view: service.ProjectView) -> Project:
    return Project.model_validate({**view.row._mapping, "role": view.role})


def _member(row: Any) -> Member:
    return Member.model_validate(
        {
            "user": {"id": row.user_id, "email": row.email, "display_name": row.display_name},
            "role": row.role,
            "added_at": row.added_at,
        }
    )


def _location(project_id: uuid.UUID) -> str:
    return f"/api/v1/projects/{project_id}"


def _etag_matches(header: str | None, version: int) -> bool:
    if header is None:
        return False
    current = etag(version)
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == current:
            return True
    return False


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=Project,
    responses={201: {"description": "Created; Location and ETag name it"}},
)
async def create_project(
    body: ProjectCreate, request: Request, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Create a project; the caller becomes its owner. Honours Idempotency-Key."""

    async def produce() -> JsonAnswer:
        row = await service.create_project(
            conn, owner_id=principal.id, name=body.name, description=body.description or ""
        )
        view = service.ProjectView(row, "owner")
        return JsonAnswer(
            status.HTTP_201_CREATED,
            view.as_json(),
            {"Location": _location(row.id), "ETag": etag(row.version)},
        )

    return await idempotent(
        request, conn, user_id=principal.id, body=await request.json(), produce=produce
    )


@router.get("/projects", responses={400: {"description": "Malformed or foreign cursor"}})
async def list_projects(
    request: Request,
    principal: CurrentUser,
    conn: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Project]:
    """The caller's live projects: the Inbox first, then the oldest first."""
    codec = _codec(request)
    after = None if cursor is None else _decode_cursor(codec, cursor, principal.id)
    views = await service.list_projects(conn, user_id=principal.id, after=after, limit=limit + 1)
    next_cursor = None
    if len(views) > limit:
        views = views[:limit]
        last = views[-1].row
        next_cursor = codec.encode(
            [str(principal.id), not last.is_inbox, last.created_at.isoformat(), str(last.id)]
        )
    return Page[Project](items=[_project(view) for view in views], next_cursor=next_cursor)


@router.get(
    "/projects/{project_id}",
    response_model=Project,
    responses={**_NOT_FOUND, 304: {"description": "If-None-Match names the current version"}},
)
async def get_project(
    project_id: uuid.UUID,
    principal: CurrentUser,
    conn: SessionDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One project with the caller's role; ETag is its version."""
    view = await service.get_project(conn, user_id=principal.id, project_id=project_id)
    headers = {"ETag": etag(view.row.version)}
    if _etag_matches(if_none_match, view.row.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return JsonAnswer(status.HTTP_200_OK, view.as_json(), headers).response()


@router.patch(
    "/projects/{project_id}",
    response_model=Project,
    responses={**_NOT_FOUND, **_FORBIDDEN, **_VERSIONED},
)
async def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    principal: CurrentUser,
    conn: SessionDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename or describe a project (owner, editor); state the version you read."""
    fields = body.model_dump(exclude_unset=True, exclude={"version"})
    view = await service.update_project(
        conn,
        user_id=principal.id,
        project_id=project_id,
        body_version=body.version,
        if_match=if_match,
        fields=fields,
    )
    return JsonAnswer(
        status.HTTP_200_OK, view.as_json(), {"ETag": etag(view.row.version)}
    ).response()


@router.delete(
    "/projects/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_NOT_FOUND, **_FORBIDDEN, **_CONFLICT, 412: {"description": "Stale If-Match"}},
    description=(
        "Soft delete (owner): the project and its tasks leave every listing, and each member gets"
        " `project.access_revoked`. An optional If-Match is checked. Deleting it again answers"
        " `204` unchanged to the owner (`404` to anyone else); the Inbox cannot be deleted (`409`)."
    ),
)
async def delete_project(
    project_id: uuid.UUID, principal: CurrentUser, conn: SessionDep, if_match: IfMatch = None
) -> Response:
    """Soft-delete a project (owner); every member loses access at once."""
    await service.delete_project(
        conn, user_id=principal.id, project_id=project_id, if_match=if_match
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/projects/{project_id}/restore",
    response_model=Project,
    responses={**_NOT_FOUND, **_FORBIDDEN},
    description=(
        "Restore a deleted project (its owner only; to anyone else a deleted project is `404`)."
        " Every member gets `project.access_granted`. A live project answers `200` unchanged."
    ),
)
async def restore_project(
    project_id: uuid.UUID, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Restore a deleted project (owner); its members regain access."""
    view = await service.restore_project(conn, user_id=principal.id, project_id=project_id)
    return JsonAnswer(
        status.HTTP_200_OK, view.as_json(), {"ETag": etag(view.row.version)}
    ).response()


@router.get("/projects/{project_id}/members", responses=_NOT_FOUND)
async def list_members(project_id: uuid.UUID, principal: CurrentUser, conn: SessionDep) -> Members:
    """The project's members with their roles, the owner first."""
    rows = await service.list_members(conn, user_id=principal.id, project_id=project_id)
    return Members(items=[_member(row) for row in rows])


@router.post(
    "/projects/{project_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=Member,
    responses={
        **_FORBIDDEN,
        404: {"description": "No such project, or no account has this email"},
        409: {"description": "Already a member, or the project is an Inbox"},
    },
)
async def add_member(
    project_id: uuid.UUID,
    body: MemberCreate,
    request: Request,
    principal: CurrentUser,
    conn: SessionDep,
) -> Response:
    """Share the project (owner) with a user by email, as editor or viewer."""

    async def produce() -> JsonAnswer:
        row = await service.add_member(
            conn, actor_id=principal.id, project_id=project_id, email=body.email, role=body.role
        )
        return JsonAnswer(status.HTTP_201_CREATED, _member(row).model_dump(mode="json"))

    return await idempotent(
        request, conn, user_id=principal.id, body=await request.json(), produce=produce
    )


@router.patch(
    "/projects/{project_id}/members/{user_id}",
    responses={
        **_FORBIDDEN,
        404: {"description": "No such project or member"},
        409: {"description": "The owner's role changes only by a transfer"},
    },
)
async def change_member_role(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberUpdate,
    principal: CurrentUser,
    conn: SessionDep,
) -> Member:
    """Change a member's role (owner); `owner` transfers ownership, the former owner edits."""
    row = await service.change_member_role(
        conn, actor_id=principal.id, project_id=project_id, user_id=user_id, role=body.role
    )
    return _member(row)


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **_FORBIDDEN,
        404: {"description": "No such project or member"},
        409: {"description": "The owner cannot leave"},
    },
)
async def remove_member(
    project_id: uuid.UUID, user_id: uuid.UUID, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Remove a member (owner) or leave (any member but the owner); their assignments clear."""
    await service.remove_member(conn, actor_id=principal.id, project_id=project_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

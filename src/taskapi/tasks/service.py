"""Task rules: each public function performs one change with its validation, access, version
check and event, in the caller's transaction (the single endpoints and bulk share them)."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal, ParamSpec, TypeVar

import orjson
import pydantic
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import Conflict, Forbidden, InvalidCursor, NotFound, ValidationFailed
from taskapi.events import reader, writer
from taskapi.kit.cursors import CursorCodec
from taskapi.kit.ids import uuid7
from taskapi.kit.time import format_utc
from taskapi.projects import access
from taskapi.tasks import repository
from taskapi.tasks.repository import task_json, tombstone
from taskapi.tasks.schemas import TaskCreate, TaskUpdate
from taskapi.versioning import ExpectedVersion, check_version

_CONCURRENCY_FAILURES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

P = ParamSpec("P")
R = TypeVar("R")


def _conflict_on_deadlock(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Crossed changes of a subtree (a move against a re-parenting, say) can deadlock; PostgreSQL
    aborts one of them, which is a 409 conflict to retry rather than a server error."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await function(*args, **kwargs)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _CONCURRENCY_FAILURES:
                raise Conflict("A concurrent change of these tasks got in the way; retry") from None
            raise

    return wrapper


_NOT_NULL = ("project_id", "title", "status", "priority")
_CLEARED_BY_NULL: dict[str, Any] = {"description": "", "tags": []}


def _due_sort(due_at: datetime | None, due_date: date | None) -> datetime | None:
    if due_at is not None:
        return due_at
    if due_date is not None:
        return datetime.combine(due_date, time(0), tzinfo=UTC)
    return None


def _not_found() -> NotFound:
    return NotFound("No such task")


def _check_writer(role: str) -> None:
    if role not in access.WRITER_ROLES:
        raise Forbidden("Viewers cannot change this project's tasks")


def _body_error(field_name: str, msg: str, type_: str = "value_error") -> ValidationFailed:
    return ValidationFailed.at(["body", field_name], msg, type_)


@dataclass(frozen=True, slots=True)
class CreateLookups:
    """What a run of creates checks, read in one go: the parents asked for (locked, with their
    project if live and visible) and the assignee memberships asked for."""

    parents_asked: frozenset[uuid.UUID] = frozenset()
    parents: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    members_asked: frozenset[tuple[uuid.UUID, uuid.UUID]] = frozenset()
    members: frozenset[tuple[uuid.UUID, uuid.UUID]] = frozenset()


_NO_LOOKUPS = CreateLookups()


async def _check_parent(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    parent_id: uuid.UUID,
    project_id: uuid.UUID,
    task_id: uuid.UUID | None,
    lookups: CreateLookups = _NO_LOOKUPS,
) -> None:
    if parent_id in lookups.parents_asked:
        parent_project = lookups.parents.get(parent_id)
    else:
        parent = await repository.lock_parent(conn, user_id=actor_id, parent_id=parent_id)
        parent_project = None if parent is None else parent.project_id
    if parent_project is None:
        raise _body_error("parent_id", "No such task")
    if parent_project != project_id:
        raise _body_error("parent_id", "The parent must be a task of the same project")
    if task_id is not None and await repository.is_ancestor_or_self(
        conn, ancestor_id=task_id, task_id=parent_id
    ):
        raise _body_error("parent_id", "A task cannot be its own ancestor", "cycle")


async def _check_assignee(
    conn: AsyncConnection,
    *,
    assignee_id: uuid.UUID,
    project_id: uuid.UUID,
    lookups: CreateLookups = _NO_LOOKUPS,
) -> None:
    pair = (project_id, assignee_id)
    if pair in lookups.members_asked:
        member = pair in lookups.members
    else:
        member = await repository.is_member(conn, project_id=project_id, user_id=assignee_id)
    if not member:
        raise _body_error("assignee_id", "The assignee must be a member of the project")


def _tag_keys(tags: list[str]) -> list[str]:
    return [tag.lower() for tag in tags]


# ---------------------------------------------------------------- reads


async def get_task(
    conn: AsyncConnection, *, user_id: uuid.UUID, task_id: uuid.UUID
) -> dict[str, Any]:
    """The live task as JSON, or ``NotFound`` if the caller may not see it."""
    row = await repository.visible_task(conn, user_id=user_id, task_id=task_id)
    if row is None:
        raise _not_found()
    return task_json(row)


# ---------------------------------------------------------------- changes


@_conflict_on_deadlock
async def create_task(
    conn: AsyncConnection, *, actor_id: uuid.UUID, data: TaskCreate
) -> dict[str, Any]:
    """Creates a task (in the actor's Inbox without ``project_id``); returns its JSON."""
    planned = await plan_create(conn, actor_id=actor_id, data=data)
    (task,) = await create_planned(conn, actor_id=actor_id, plans=[planned])
    return task


@dataclass(frozen=True, slots=True)
class PlannedCreate:
    """A create that passed every check (access, parent, assignee): the row to insert."""

    row: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        task_id: uuid.UUID = self.row["id"]
        return task_id

    @property
    def project_id(self) -> uuid.UUID:
        project_id: uuid.UUID = self.row["project_id"]
        return project_id


@_conflict_on_deadlock
async def look_up_creates(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    parent_ids: set[uuid.UUID],
    assignees: set[tuple[uuid.UUID, uuid.UUID]],
) -> CreateLookups:
    """Reads what ``plan_create`` checks for several creates (parents, ``(project, assignee)``
    pairs) with one statement each; valid while the batch creates tasks and nothing else."""
    parents = (
        await repository.lock_parents(conn, user_id=actor_id, parent_ids=sorted(parent_ids))
        if parent_ids
        else {}
    )
    members = await repository.members(conn, pairs=sorted(assignees)) if assignees else set()
    return CreateLookups(frozenset(parent_ids), parents, frozenset(assignees), frozenset(members))


@_conflict_on_deadlock
async def plan_create(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    data: TaskCreate,
    planned: Mapping[uuid.UUID, PlannedCreate] | None = None,
    lookups: CreateLookups = _NO_LOOKUPS,
) -> PlannedCreate:
    """Checks a create and gives the row to insert with ``create_planned``; writes nothing.

    ``planned`` holds creates checked earlier in the same batch but not inserted yet: a parent
    among them is the actor's own new task (its project is known, no lock needed). ``lookups``
    answers the parent and assignee checks it covers (``look_up_creates``)."""
    if data.project_id is None:
        project_id = await repository.inbox_id(conn, user_id=actor_id)
        if project_id is None:
            raise _body_error("project_id", "You have no Inbox; name a project")
    else:
        project_id = data.project_id
        role = await access.project_role(conn, user_id=actor_id, project_id=project_id)
        if role is None:
            raise _body_error("project_id", "No such project")
        _check_writer(role)
    if data.due_at is not None and data.due_date is not None:
        raise _body_error("due_date", "Give due_at or due_date, not both")
    if data.parent_id is not None:
        parent = None if planned is None else planned.get(data.parent_id)
        if parent is None:
            await _check_parent(
                conn,
                actor_id=actor_id,
                parent_id=data.parent_id,
                project_id=project_id,
                task_id=None,
                lookups=lookups,
            )
        elif parent.project_id != project_id:
            raise _body_error("parent_id", "The parent must be a task of the same project")
    if data.assignee_id is not None:
        await _check_assignee(
            conn, assignee_id=data.assignee_id, project_id=project_id, lookups=lookups
        )
    return PlannedCreate(
        {
            "id": uuid7(),
            "project_id": project_id,
            "parent_id": data.parent_id,
            "title": data.title,
            "description": data.description,
            "status": data.status,
            "priority": data.priority,
            "due_at": data.due_at,
            "due_date": data.due_date,
            "due_sort": _due_sort(data.due_at, data.due_date),
            "tags": data.tags,
            "tag_keys": _tag_keys(data.tags),
            "assignee_id": data.assignee_id,
            "created_by": actor_id,
        }
    )


@_conflict_on_deadlock
async def create_planned(
    conn: AsyncConnection, *, actor_id: uuid.UUID, plans: Sequence[PlannedCreate]
) -> list[dict[str, Any]]:
    """Inserts checked creates in one statement, each with its ``task.created`` event, in order;
    returns their JSON."""
    tasks: list[dict[str, Any]] = []
    for row in await repository.insert_tasks(conn, [plan.row for plan in plans]):
        task = task_json(row)
        await _record(
            conn,
            "task.created",
            row,
            actor_id=actor_id,
            data=task,
            changes={name: {"before": None, "after": value} for name, value in task.items()},
        )
        tasks.append(task)
    return tasks


def _validated_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    try:
        update = TaskUpdate.model_validate(patch)
    except pydantic.ValidationError as exc:
        errors = [
            {
                "loc": ["body", *error["loc"]],
                "msg": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailed(errors) from None
    values = {name: getattr(update, name) for name in update.model_fields_set}
    for name in _NOT_NULL:
        if name in values and values[name] is None:
            raise _body_error(name, f"{name} cannot be null", "null_not_allowed")
    for name, empty in _CLEARED_BY_NULL.items():
        if name in values and values[name] is None:
            values[name] = empty
    return values


def _json_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if name == "due_at":
        return format_utc(value)
    if name == "due_date":
        return value.isoformat()
    return value


@_conflict_on_deadlock
async def update_task(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    task_id: uuid.UUID,
    patch: Mapping[str, Any],
    expected: ExpectedVersion | None,
) -> dict[str, Any]:
    """Applies a JSON merge patch (raw fields, no ``version``); a no-op changes nothing."""
    values = _validated_patch(patch)
    row = await repository.lock_visible_task(conn, user_id=actor_id, task_id=task_id)
    if row is None:
        raise _not_found()
    _check_writer(row.role)
    current = task_json(row)
    check_version(expected, current_version=row.version, current=current)

    changed = {
        name: value for name, value in values.items() if _json_value(name, value) != current[name]
    }
    if not changed:
        return current

    due_at = changed.get("due_at", row.due_at)
    due_date = changed.get("due_date", row.due_date)
    if due_at is not None and due_date is not None:
        raise _body_error(
            "due_date" if "due_date" in changed else "due_at", "Give due_at or due_date, not both"
        )
    source_id: uuid.UUID = row.project_id
    project_id: uuid.UUID = changed.get("project_id", source_id)
    parent_id: uuid.UUID | None = changed.get("parent_id", row.parent_id)
    assignee_id: uuid.UUID | None = changed.get("assignee_id", row.assignee_id)
    moving = project_id != source_id
    subtree: list[uuid.UUID] = []
    if moving:
        role = await access.project_role(conn, user_id=actor_id, project_id=project_id)
        if role is None:
            raise _body_error("project_id", "No such project")
        _check_writer(role)
        if parent_id is not None and "parent_id" not in changed:
            raise _body_error("project_id", "A subtask moves only together with parent_id: null")
    if "parent_id" in changed and parent_id is not None:
        await _check_parent(
            conn, actor_id=actor_id, parent_id=parent_id, project_id=project_id, task_id=task_id
        )
    if assignee_id is not None and ("assignee_id" in changed or moving):
        await _check_assignee(conn, assignee_id=assignee_id, project_id=project_id)
    if moving:
        subtree = await repository.descendant_ids(conn, task_id=task_id, live_only=False)
        if subtree and await repository.non_member_assignees(
            conn, task_ids=subtree, project_id=project_id
        ):
            raise _body_error(
                "project_id", "A subtask's assignee is not a member of the destination project"
            )

    columns: dict[str, Any] = {}
    for name, value in changed.items():
        columns[name] = value
        if name == "tags":
            columns["tag_keys"] = _tag_keys(value)
    if "due_at" in changed or "due_date" in changed:
        columns["due_sort"] = _due_sort(due_at, due_date)
    if "status" in changed:
        if changed["status"] == "done":
            columns["completed_at"] = row.now
        elif row.status == "done":
            columns["completed_at"] = None
    updated = await repository.update_task(conn, task_id=task_id, values=columns)
    task = task_json(updated)
    await _record_update(conn, actor_id=actor_id, before=current, after=task, row=updated)
    if moving:
        await _record_move_tombstone(conn, actor_id=actor_id, row=updated, source_id=source_id)
        for moved in await repository.move_tasks(conn, task_ids=subtree, project_id=project_id):
            moved_task = task_json(moved)
            before = {**moved_task, "project_id": str(source_id)}
            await _record_update(
                conn, actor_id=actor_id, before=before, after=moved_task, row=moved
            )
            await _record_move_tombstone(conn, actor_id=actor_id, row=moved, source_id=source_id)
    return task


async def _record_update(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    row: Any,
) -> None:
    changes = {
        name: {"before": before[name], "after": value}
        for name, value in after.items()
        if name not in ("updated_at", "version") and before[name] != value
    }
    await _record(
        conn,
        "task.updated",
        row,
        actor_id=actor_id,
        data=after,
        changes=changes,
    )


async def _record(
    conn: AsyncConnection,
    type: str,
    row: Any,
    *,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    """One event of a task change, in the task's own project, at the row's new version."""
    await writer.record(
        conn,
        type=type,
        entity="task",
        entity_id=row.id,
        project_id=row.project_id,
        version=row.version,
        actor_id=actor_id,
        data=data,
        changes=changes,
    )


async def _record_move_tombstone(
    conn: AsyncConnection, *, actor_id: uuid.UUID, row: Any, source_id: uuid.UUID
) -> None:
    """Readers of the source project who cannot see the destination learn the task left."""
    await writer.record(
        conn,
        type="task.deleted",
        entity="task",
        entity_id=row.id,
        project_id=source_id,
        version=row.version,
        actor_id=actor_id,
        data={
            "id": str(row.id),
            "project_id": str(source_id),
            "version": row.version,
            "deleted_at": format_utc(row.updated_at),
        },
        hidden_from_project_id=row.project_id,
    )


@_conflict_on_deadlock
async def delete_task(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    task_id: uuid.UUID,
    expected: ExpectedVersion | None,
) -> None:
    """Soft-deletes a task with its live subtree (one ``task.deleted`` each); no-op if deleted."""
    row = await repository.lock_task_live_or_deleted(conn, user_id=actor_id, task_id=task_id)
    if row is None:
        raise _not_found()
    _check_writer(row.role)
    if row.deleted_at is not None:
        return
    check_version(expected, current_version=row.version, current=task_json(row))
    ids = [task_id, *await repository.descendant_ids(conn, task_id=task_id, live_only=True)]
    for deleted in await repository.soft_delete(
        conn, task_ids=ids, root_id=task_id, actor_id=actor_id
    ):
        await _record(
            conn,
            "task.deleted",
            deleted,
            actor_id=actor_id,
            data=tombstone(deleted),
            changes={"deleted_at": {"before": None, "after": format_utc(deleted.deleted_at)}},
        )


@_conflict_on_deadlock
async def restore_task(
    conn: AsyncConnection, *, actor_id: uuid.UUID, task_id: uuid.UUID
) -> dict[str, Any]:
    """Restores a task and exactly what was deleted with it; a live task comes back unchanged."""
    row = await repository.lock_task_live_or_deleted(conn, user_id=actor_id, task_id=task_id)
    if row is None:
        raise _not_found()
    _check_writer(row.role)
    if row.deleted_at is None:
        return task_json(row)
    if row.parent_id is not None and not await repository.is_live(conn, task_id=row.parent_id):
        raise Conflict("The parent task is deleted: restore it first")
    root_id: uuid.UUID = row.deletion_root_id or row.id
    deleted_at = format_utc(row.deleted_at)
    restored_task: dict[str, Any] | None = None
    for restored in await repository.restore(conn, root_id=root_id):
        task = task_json(restored)
        if restored.id == task_id:
            restored_task = task
        await _record(
            conn,
            "task.restored",
            restored,
            actor_id=actor_id,
            data=task,
            changes={"deleted_at": {"before": deleted_at, "after": None}},
        )
    if restored_task is None:  # pragma: no cover - the locked row is part of its own deletion
        raise _not_found()
    return restored_task


@_conflict_on_deadlock
async def unassign_member(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID, actor_id: uuid.UUID
) -> None:
    """Clears the user's assignments on live tasks of the project (``task.updated`` each)."""
    for row in await repository.unassign(conn, project_id=project_id, user_id=user_id):
        task = task_json(row)
        await _record(
            conn,
            "task.updated",
            row,
            actor_id=actor_id,
            data=task,
            changes={"assignee_id": {"before": str(user_id), "after": None}},
        )


# ---------------------------------------------------------------- lists


@dataclass(frozen=True, slots=True)
class TaskFilters:
    project_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    assignee_id: uuid.UUID | None = None
    parent_id: uuid.UUID | Literal["null"] | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None

    def fingerprint(self, sort: str) -> str:
        """A short digest of the sort and filters, so a cursor only fits its own query."""
        canonical = [
            sort,
            None if self.project_id is None else str(self.project_id),
            sorted(set(self.statuses)),
            sorted(set(self.priorities)),
            sorted({tag.strip().lower() for tag in self.tags}),
            None if self.assignee_id is None else str(self.assignee_id),
            None if self.parent_id is None else str(self.parent_id),
            None if self.due_before is None else format_utc(self.due_before),
            None if self.due_after is None else format_utc(self.due_after),
        ]
        return hashlib.sha256(orjson.dumps(canonical)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Sort:
    column: str
    nullable: bool = False
    is_time: bool = True


_SORTS = {
    "created_at": _Sort("t.created_at"),
    "updated_at": _Sort("t.updated_at"),
    "due_at": _Sort("t.due_sort", nullable=True),
    "priority": _Sort("t.priority", is_time=False),
}
_SORT_ATTRIBUTE = {
    "t.created_at": "created_at",
    "t.updated_at": "updated_at",
    "t.due_sort": "due_sort",
    "t.priority": "priority",
}


@dataclass(slots=True)
class TaskList:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


async def _check_filters(
    conn: AsyncConnection, *, user_id: uuid.UUID, filters: TaskFilters
) -> None:
    """Ids in query filters that the caller may not see are ``NotFound`` (API.md §1)."""
    if filters.project_id is not None:
        await access.require_reader(conn, user_id=user_id, project_id=filters.project_id)
    if isinstance(filters.parent_id, uuid.UUID) and not await repository.task_visible(
        conn, user_id=user_id, task_id=filters.parent_id
    ):
        raise NotFound("No such parent task")
    if filters.assignee_id is not None and not await repository.user_visible(
        conn, user_id=user_id, other_id=filters.assignee_id
    ):
        raise NotFound("No such assignee")


def _decode_key(
    codec: CursorCodec, cursor: str, *, fingerprint: str, sort: _Sort
) -> tuple[Any, uuid.UUID]:
    payload = codec.decode(cursor)
    try:
        if payload["f"] != fingerprint:
            raise InvalidCursor("The cursor belongs to other filters or another sort")
        raw_value, raw_id = payload["k"]
        last_id = uuid.UUID(raw_id)
        if raw_value is None:
            if not sort.nullable:
                raise ValueError("null key")
            return None, last_id
        if sort.is_time:
            value: Any = datetime.fromisoformat(raw_value)
        elif isinstance(raw_value, int):
            value = raw_value
        else:
            raise ValueError("bad key")
        return value, last_id
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("The cursor is malformed") from None


def _encode_key(codec: CursorCodec, row: Any, *, fingerprint: str, sort: _Sort) -> str:
    value = getattr(row, _SORT_ATTRIBUTE[sort.column])
    if isinstance(value, datetime):
        value = value.isoformat()
    return codec.encode({"f": fingerprint, "k": [value, str(row.id)]})


async def list_tasks(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    filters: TaskFilters,
    sort: str,
    limit: int,
    cursor: str | None,
    codec: CursorCodec,
) -> TaskList:
    """One page of the visible tasks matching ``filters``, in ``sort`` order (keyset paging)."""
    descending = sort.startswith("-")
    spec = _SORTS[sort.lstrip("-")]
    fingerprint = filters.fingerprint(sort)
    after = (
        None if cursor is None else _decode_key(codec, cursor, fingerprint=fingerprint, sort=spec)
    )
    where: list[str] = []
    params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if filters.project_id is not None:
        params["project_id"] = filters.project_id
    if filters.statuses:
        where.append("t.status = ANY(:statuses)")
        params["statuses"] = list(set(filters.statuses))
    if filters.priorities:
        where.append("t.priority = ANY(:priorities)")
        params["priorities"] = list(set(filters.priorities))
    if filters.tags:
        where.append("t.tag_keys && CAST(:tag_keys AS text[])")
        params["tag_keys"] = sorted({tag.strip().lower() for tag in filters.tags})
    if filters.assignee_id is not None:
        where.append("t.assignee_id = :assignee_id")
        params["assignee_id"] = filters.assignee_id
    if filters.parent_id == "null":
        where.append("t.parent_id IS NULL")
    elif filters.parent_id is not None:
        where.append("t.parent_id = :parent_id")
        params["parent_id"] = filters.parent_id
    if filters.due_before is not None:
        where.append("t.due_sort < :due_before")
        params["due_before"] = filters.due_before
    if filters.due_after is not None:
        where.append("t.due_sort >= :due_after")
        params["due_after"] = filters.due_after

    column = spec.column
    if spec.nullable:
        direction = "DESC NULLS LAST" if descending else "ASC NULLS LAST"
    else:
        direction = "DESC" if descending else "ASC"
    id_direction = "DESC" if descending else "ASC"
    order = f"{column} {direction}, t.id {id_direction}"
    if after is not None:
        value, last_id = after
        params["after_id"] = last_id
        compare = "<" if descending else ">"
        if value is None:
            where.append(f"{column} IS NULL AND t.id {compare} :after_id")
        else:
            params["after_value"] = value
            keyset = f"({column}, t.id) {compare} (:after_value, :after_id)"
            where.append(f"({keyset} OR {column} IS NULL)" if spec.nullable else keyset)

    rows = await repository.list_tasks(
        conn, where=where, order=order, params=params, lateral=filters.project_id is None
    )
    if not rows:
        # rows prove every id filter visible; only an empty page needs to tell 404 from none
        await _check_filters(conn, user_id=user_id, filters=filters)
    page = TaskList(items=[task_json(row) for row in rows[:limit]])
    if len(rows) > limit:
        page.next_cursor = _encode_key(codec, rows[limit - 1], fingerprint=fingerprint, sort=spec)
    return page


# ---------------------------------------------------------------- trash and history


def _project_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "is_inbox": row.is_inbox,
        "role": "owner",
        "created_at": format_utc(row.created_at),
        "updated_at": format_utc(row.updated_at),
        "version": row.version,
    }


async def trash(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    project_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
    codec: CursorCodec,
) -> TaskList:
    """Roots of deletions, newest first: tasks for editors and owners, projects for their owner."""
    scope = None if project_id is None else str(project_id)
    after: tuple[datetime, uuid.UUID] | None = None
    if cursor is not None:
        payload = codec.decode(cursor)
        try:
            if payload["p"] != scope:
                raise InvalidCursor("The cursor belongs to another project filter")
            after = (datetime.fromisoformat(payload["k"][0]), uuid.UUID(payload["k"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise InvalidCursor("The cursor is malformed") from None
    if project_id is not None:
        role = await access.require_reader(conn, user_id=user_id, project_id=project_id)
        if role not in access.WRITER_ROLES:
            raise Forbidden("Only editors and the owner see a project's trash")
    rows = await repository.trash(
        conn, user_id=user_id, project_id=project_id, after=after, limit=limit + 1
    )
    page = TaskList()
    for row in rows[:limit]:
        item: dict[str, Any] = {"kind": row.kind}
        if row.kind == "task":
            item["task"] = task_json(row)
        else:
            item["project"] = _project_json(row)
        item["deleted_at"] = format_utc(row.deleted_at)
        item["deleted_by"] = None if row.deleted_by is None else str(row.deleted_by)
        page.items.append(item)
    if len(rows) > limit:
        last = rows[limit - 1]
        page.next_cursor = codec.encode(
            {"p": scope, "k": [last.deleted_at.isoformat(), str(last.id)]}
        )
    return page


async def history(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    codec: CursorCodec,
) -> TaskList:
    """A task's changes, newest first, while it exists (live or in the trash) and is visible."""
    before_id: int | None = None
    if cursor is not None:
        payload = codec.decode(cursor)
        try:
            if payload["t"] != str(task_id):
                raise InvalidCursor("The cursor belongs to another task")
            before_id = int(payload["b"])
        except (KeyError, TypeError, ValueError):
            raise InvalidCursor("The cursor is malformed") from None
    if not await repository.task_visible(
        conn, user_id=user_id, task_id=task_id, include_deleted=True
    ):
        raise _not_found()
    events = await reader.history(conn, entity_id=task_id, before_id=before_id, limit=limit + 1)
    page = TaskList()
    for event in events[:limit]:
        if event.hidden_from_project_id is not None:
            continue  # the tombstone of a move: the history shows the move's update once
        page.items.append(
            {
                "event_id": event.id,
                "version": event.version,
                "type": event.type,
                "actor_id": None if event.actor_id is None else str(event.actor_id),
                "changes": event.changes or {},
                "ts": format_utc(event.ts),
            }
        )
    if len(events) > limit:
        page.next_cursor = codec.encode({"t": str(task_id), "b": events[limit - 1].id})
    return page

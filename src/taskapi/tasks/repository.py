"""SQL for tasks: every statement that selects tasks for a user is scoped by project membership."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.db import fetch_row
from taskapi.kit.time import format_utc
from taskapi.projects.access import READABLE_PROJECT_IDS

TASK_FIELDS = (
    "id",
    "project_id",
    "parent_id",
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "due_date",
    "tags",
    "assignee_id",
    "completed_at",
    "created_by",
    "created_at",
    "updated_at",
    "version",
)
COLUMNS = ", ".join(f"t.{name}" for name in TASK_FIELDS)

# the caller's live membership of the task's live project (the same rule as projects.access)
_MEMBER_JOIN = (
    " JOIN projects p ON p.id = t.project_id AND p.deleted_at IS NULL"
    " JOIN project_members m ON m.project_id = t.project_id AND m.user_id = :user_id"
    " AND m.removed_at IS NULL"
)


def _uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_utc(value)


def task_json(row: Any) -> dict[str, Any]:
    """A task row as the API payload, JSON-ready (event data, responses)."""
    due_date: date | None = row.due_date
    return {
        "id": str(row.id),
        "project_id": str(row.project_id),
        "parent_id": _uuid(row.parent_id),
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "priority": row.priority,
        "due_at": _instant(row.due_at),
        "due_date": None if due_date is None else due_date.isoformat(),
        "tags": list(row.tags),
        "assignee_id": _uuid(row.assignee_id),
        "completed_at": _instant(row.completed_at),
        "created_by": str(row.created_by),
        "created_at": format_utc(row.created_at),
        "updated_at": format_utc(row.updated_at),
        "version": row.version,
    }


def tombstone(row: Any) -> dict[str, Any]:
    """The event data of a deleted task (API.md §6)."""
    return {
        "id": str(row.id),
        "project_id": str(row.project_id),
        "version": row.version,
        "deleted_at": format_utc(row.deleted_at),
    }


# ---------------------------------------------------------------- single tasks

_VISIBLE_TASK = text(
    f"SELECT {COLUMNS}, m.role FROM tasks t{_MEMBER_JOIN}"
    " WHERE t.id = :task_id AND t.deleted_at IS NULL"
)
_VISIBLE_TASK_FOR_UPDATE = text(
    f"SELECT {COLUMNS}, m.role, now() AS now FROM tasks t{_MEMBER_JOIN}"
    " WHERE t.id = :task_id AND t.deleted_at IS NULL FOR UPDATE OF t"
)
_ANY_TASK_FOR_UPDATE = text(
    f"SELECT {COLUMNS}, t.deleted_at, t.deletion_root_id, m.role FROM tasks t{_MEMBER_JOIN}"
    " WHERE t.id = :task_id FOR UPDATE OF t"
)


async def visible_task(conn: AsyncConnection, *, user_id: uuid.UUID, task_id: uuid.UUID) -> Any:
    """The live task with the caller's ``role``, or ``None`` if they may not see it."""
    return await fetch_row(conn, _VISIBLE_TASK, user_id=user_id, task_id=task_id)


async def lock_visible_task(
    conn: AsyncConnection, *, user_id: uuid.UUID, task_id: uuid.UUID
) -> Any:
    """Like ``visible_task``, locking the row until the transaction ends (and with ``now``)."""
    return await fetch_row(conn, _VISIBLE_TASK_FOR_UPDATE, user_id=user_id, task_id=task_id)


async def lock_task_live_or_deleted(
    conn: AsyncConnection, *, user_id: uuid.UUID, task_id: uuid.UUID
) -> Any:
    """The task, live or in the trash, in a live project the caller is a member of; locked."""
    result = await conn.execute(_ANY_TASK_FOR_UPDATE, {"user_id": user_id, "task_id": task_id})
    return result.one_or_none()


async def inbox_id(conn: AsyncConnection, *, user_id: uuid.UUID) -> uuid.UUID | None:
    result = await conn.execute(
        text(
            "SELECT id FROM projects WHERE owner_id = :user_id AND is_inbox AND deleted_at IS NULL"
        ),
        {"user_id": user_id},
    )
    value: uuid.UUID | None = result.scalar()
    return value


async def is_member(conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the user is an active member of the project (a possible assignee)."""
    result = await conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM project_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.project_id = :project_id AND m.user_id = :user_id"
            " AND m.removed_at IS NULL AND u.deleted_at IS NULL)"
        ),
        {"project_id": project_id, "user_id": user_id},
    )
    return bool(result.scalar_one())


async def non_member_assignees(
    conn: AsyncConnection, *, task_ids: Sequence[uuid.UUID], project_id: uuid.UUID
) -> list[uuid.UUID]:
    """Assignees of the given tasks who are not active members of ``project_id``."""
    result = await conn.execute(
        text(
            "SELECT DISTINCT t.assignee_id FROM tasks t WHERE t.id = ANY(:ids)"
            " AND t.assignee_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM project_members m"
            " WHERE m.project_id = :project_id AND m.user_id = t.assignee_id"
            " AND m.removed_at IS NULL)"
        ),
        {"ids": list(task_ids), "project_id": project_id},
    )
    return list(result.scalars())


async def lock_parent(conn: AsyncConnection, *, user_id: uuid.UUID, parent_id: uuid.UUID) -> Any:
    """A live, visible task that may become a parent: ``project_id``; locked against deletion."""
    result = await conn.execute(
        text(
            f"SELECT t.id, t.project_id FROM tasks t{_MEMBER_JOIN}"
            " WHERE t.id = :task_id AND t.deleted_at IS NULL FOR SHARE OF t"
        ),
        {"user_id": user_id, "task_id": parent_id},
    )
    return result.one_or_none()


async def lock_parents(
    conn: AsyncConnection, *, user_id: uuid.UUID, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """``lock_parent`` for many: the project of each live, visible one; locked against deletion."""
    result = await conn.execute(
        text(
            f"SELECT t.id, t.project_id FROM tasks t{_MEMBER_JOIN}"
            " WHERE t.id = ANY(:ids) AND t.deleted_at IS NULL ORDER BY t.id FOR SHARE OF t"
        ),
        {"user_id": user_id, "ids": list(parent_ids)},
    )
    return {row.id: row.project_id for row in result}


async def members(
    conn: AsyncConnection, *, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """``is_member`` for many: the (project, user) pairs where the user is an active member."""
    result = await conn.execute(
        text(
            "SELECT m.project_id, m.user_id FROM project_members m JOIN users u ON u.id = m.user_id"
            " JOIN unnest(CAST(:project_ids AS uuid[]), CAST(:user_ids AS uuid[])) AS q(p, u)"
            " ON m.project_id = q.p AND m.user_id = q.u"
            " WHERE m.removed_at IS NULL AND u.deleted_at IS NULL"
        ),
        {"project_ids": [pair[0] for pair in pairs], "user_ids": [pair[1] for pair in pairs]},
    )
    return {(row.project_id, row.user_id) for row in result}


async def is_ancestor_or_self(
    conn: AsyncConnection, *, ancestor_id: uuid.UUID, task_id: uuid.UUID
) -> bool:
    """Whether ``ancestor_id`` is ``task_id`` or an ancestor of it (as a parent: a cycle)."""
    result = await conn.execute(
        text(
            "WITH RECURSIVE chain(id, parent_id, depth) AS ("
            " SELECT id, parent_id, 0 FROM tasks WHERE id = :task_id"
            " UNION ALL SELECT t.id, t.parent_id, c.depth + 1 FROM tasks t"
            " JOIN chain c ON t.id = c.parent_id WHERE c.depth < 10000)"
            " SELECT EXISTS (SELECT 1 FROM chain WHERE id = :ancestor_id)"
        ),
        {"task_id": task_id, "ancestor_id": ancestor_id},
    )
    return bool(result.scalar_one())


async def descendant_ids(
    conn: AsyncConnection, *, task_id: uuid.UUID, live_only: bool
) -> list[uuid.UUID]:
    """The ids below a task (not the task itself), through live tasks only if ``live_only``."""
    live = " AND t.deleted_at IS NULL" if live_only else ""
    result = await conn.execute(
        text(
            "WITH RECURSIVE sub(id) AS ("
            f" SELECT t.id FROM tasks t WHERE t.parent_id = :task_id{live}"
            f" UNION SELECT t.id FROM tasks t JOIN sub s ON t.parent_id = s.id WHERE true{live})"
            " SELECT id FROM sub"
        ),
        {"task_id": task_id},
    )
    return list(result.scalars())


_INSERTED = (
    ("id", "uuid"),
    ("project_id", "uuid"),
    ("parent_id", "uuid"),
    ("title", "text"),
    ("description", "text"),
    ("status", "text"),
    ("priority", "smallint"),
    ("due_at", "timestamptz"),
    ("due_date", "date"),
    ("due_sort", "timestamptz"),
    ("tags", "text[]"),
    ("tag_keys", "text[]"),
    ("assignee_id", "uuid"),
    ("created_by", "uuid"),
)
_INSERT_MANY = text(
    "INSERT INTO tasks AS t (id, project_id, parent_id, title, description, status, priority,"
    " due_at, due_date, due_sort, tags, tag_keys, assignee_id, completed_at, created_by)"
    " SELECT r.id, r.project_id, r.parent_id, r.title, r.description, r.status, r.priority,"
    " r.due_at, r.due_date, r.due_sort, r.tags, r.tag_keys, r.assignee_id,"
    " CASE WHEN r.status = 'done' THEN now() END, r.created_by"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
    + ", ".join(f"{name} {kind}" for name, kind in _INSERTED)
    + f") RETURNING {COLUMNS}"
)


async def insert_tasks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Inserts the rows in one statement (one may be the parent of a later one); returns them
    in the same order."""
    payload = orjson.dumps(
        [{name: row[name] for name, _ in _INSERTED} for row in rows], default=str
    )
    result = await conn.execute(_INSERT_MANY, {"rows": payload.decode()})
    by_id = {str(inserted.id): inserted for inserted in result}
    return [by_id[str(row["id"])] for row in rows]


async def update_task(conn: AsyncConnection, *, task_id: uuid.UUID, values: dict[str, Any]) -> Any:
    """Applies ``values`` (column → value), bumps the version; returns the task after."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    result = await conn.execute(
        text(
            f"UPDATE tasks t SET {assignments}, version = t.version + 1, updated_at = now()"
            f" WHERE t.id = :task_id RETURNING {COLUMNS}"
        ),
        {**values, "task_id": task_id},
    )
    return result.one()


async def move_tasks(
    conn: AsyncConnection, *, task_ids: Sequence[uuid.UUID], project_id: uuid.UUID
) -> list[Any]:
    """Moves tasks (live ones get a new version); returns the live ones after the move."""
    result = await conn.execute(
        text(
            "UPDATE tasks t SET project_id = :project_id,"
            " version = CASE WHEN t.deleted_at IS NULL THEN t.version + 1 ELSE t.version END,"
            " updated_at = CASE WHEN t.deleted_at IS NULL THEN now() ELSE t.updated_at END"
            f" WHERE t.id = ANY(:ids) RETURNING {COLUMNS}, t.deleted_at"
        ),
        {"ids": list(task_ids), "project_id": project_id},
    )
    return [row for row in result if row.deleted_at is None]


async def soft_delete(
    conn: AsyncConnection,
    *,
    task_ids: Sequence[uuid.UUID],
    root_id: uuid.UUID,
    actor_id: uuid.UUID,
) -> list[Any]:
    result = await conn.execute(
        text(
            "UPDATE tasks t SET deleted_at = now(), deleted_by = :actor_id,"
            " deletion_root_id = :root_id, version = t.version + 1, updated_at = now()"
            " WHERE t.id = ANY(:ids) AND t.deleted_at IS NULL"
            f" RETURNING {COLUMNS}, t.deleted_at"
        ),
        {"ids": list(task_ids), "root_id": root_id, "actor_id": actor_id},
    )
    return list(result)


async def restore(conn: AsyncConnection, *, root_id: uuid.UUID) -> list[Any]:
    """Restores every task deleted by the deletion rooted at ``root_id``."""
    result = await conn.execute(
        text(
            "UPDATE tasks t SET deleted_at = NULL, deleted_by = NULL, deletion_root_id = NULL,"
            " version = t.version + 1, updated_at = now()"
            " WHERE t.deletion_root_id = :root_id AND t.deleted_at IS NOT NULL"
            f" RETURNING {COLUMNS}"
        ),
        {"root_id": root_id},
    )
    return list(result)


async def is_live(conn: AsyncConnection, *, task_id: uuid.UUID) -> bool:
    result = await conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id AND deleted_at IS NULL)"),
        {"id": task_id},
    )
    return bool(result.scalar_one())


async def unassign(
    conn: AsyncConnection, *, project_id: uuid.UUID, user_id: uuid.UUID
) -> list[Any]:
    result = await conn.execute(
        text(
            "UPDATE tasks t SET assignee_id = NULL, version = t.version + 1, updated_at = now()"
            " WHERE t.project_id = :project_id AND t.assignee_id = :user_id"
            f" AND t.deleted_at IS NULL RETURNING {COLUMNS}"
        ),
        {"project_id": project_id, "user_id": user_id},
    )
    return list(result)


# ---------------------------------------------------------------- filters that name ids


async def task_visible(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    include_deleted: bool = False,
) -> bool:
    """Whether the task is in a project the caller sees (and live unless ``include_deleted``)."""
    live = "" if include_deleted else " AND t.deleted_at IS NULL"
    result = await conn.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM tasks t WHERE t.id = :task_id{live}"
            f" AND t.project_id IN ({READABLE_PROJECT_IDS}))"
        ),
        {"user_id": user_id, "task_id": task_id},
    )
    return bool(result.scalar_one())


async def user_visible(conn: AsyncConnection, *, user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
    """Whether ``other_id`` is the caller or a member of a project the caller can see."""
    result = await conn.execute(
        text(
            "SELECT CAST(:other_id AS uuid) = CAST(:user_id AS uuid)"
            " OR EXISTS (SELECT 1 FROM project_members o"
            f" WHERE o.user_id = :other_id AND o.project_id IN ({READABLE_PROJECT_IDS}))"
        ),
        {"user_id": user_id, "other_id": other_id},
    )
    return bool(result.scalar_one())


# ---------------------------------------------------------------- lists


async def list_tasks(
    conn: AsyncConnection, *, where: list[str], order: str, params: dict[str, Any], lateral: bool
) -> list[Any]:
    """One page of the tasks the user may see (``:project_id``'s, or with ``lateral`` the page of
    each visible project, merged).

    Across projects a per-project index scan bounded by the limit beats one big filtered scan,
    whatever the sort.
    """
    conditions = " AND ".join(["t.deleted_at IS NULL", *where])
    if lateral:
        statement = (
            f"SELECT {COLUMNS.replace('t.', 'x.')}, x.due_sort FROM ({READABLE_PROJECT_IDS}) vp"
            f" CROSS JOIN LATERAL (SELECT t.* FROM tasks t WHERE t.project_id = vp.project_id"
            f" AND {conditions} ORDER BY {order} LIMIT :limit) x"
            f" ORDER BY {order.replace('t.', 'x.')} LIMIT :limit"
        )
    else:
        statement = (
            f"SELECT {COLUMNS}, t.due_sort FROM tasks t WHERE t.project_id = :project_id"
            f" AND CAST(:project_id AS uuid) IN ({READABLE_PROJECT_IDS})"
            f" AND {conditions} ORDER BY {order} LIMIT :limit"
        )
    result = await conn.execute(text(statement), params)
    return list(result)


async def trash(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    project_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """Roots of deletions, newest first: tasks the caller may restore, projects they own."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = " AND (x.deleted_at, x.id) < (:after_ts, :after_id)"
        params["after_ts"], params["after_id"] = after
    task_projects = (
        "SELECT m.project_id FROM project_members m JOIN projects p ON p.id = m.project_id"
        " WHERE m.user_id = :user_id AND m.removed_at IS NULL AND p.deleted_at IS NULL"
        " AND m.role IN ('owner', 'editor')"
    )
    if project_id is not None:
        task_projects += " AND m.project_id = :project_id"
        params["project_id"] = project_id
    parts = [
        f"SELECT 'task' AS kind, t.id, t.deleted_at, t.deleted_by, {COLUMNS.replace('t.id, ', '')},"
        " NULL::text AS name, NULL::boolean AS is_inbox"
        f" FROM tasks t WHERE t.project_id IN ({task_projects})"
        " AND t.deleted_at IS NOT NULL AND t.deletion_root_id = t.id"
    ]
    if project_id is None:
        parts.append(
            "SELECT 'project', p.id, p.deleted_at, p.deleted_by, NULL::uuid, NULL::uuid,"
            " NULL::text, p.description, NULL::text, NULL::smallint, NULL::timestamptz,"
            " NULL::date, NULL::text[], NULL::uuid, NULL::timestamptz, NULL::uuid,"
            " p.created_at, p.updated_at, p.version, p.name, p.is_inbox"
            " FROM projects p WHERE p.owner_id = :user_id AND p.deleted_at IS NOT NULL"
        )
    statement = (
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) x WHERE true{keyset}"
        " ORDER BY x.deleted_at DESC, x.id DESC LIMIT :limit"
    )
    result = await conn.execute(text(statement), params)
    return list(result)

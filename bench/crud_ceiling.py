"""The crud benchmark's ceiling: the project's SQL with nothing around it.

A minimal FastAPI + asyncpg app that answers the four measured endpoints with the same statements
the project issues per request, in one transaction each like ``SessionDep``:

- every request: ``BEGIN``, the per-request session lookup (``auth.repository._SESSION_USER``),
  ``COMMIT``;
- ``GET /api/v1/tasks/{id}``: the scoped select (task joined with its live project and the
  caller's live membership, ``tasks.repository._VISIBLE_TASK``);
- ``GET /api/v1/tasks?project_id=…&limit=50``: the role check (``projects.access._ROLE``), then one
  page (``limit + 1`` rows) in ``-created_at`` order;
- ``PATCH /api/v1/tasks/{id}``: the scoped select ``FOR UPDATE``, the version check, the
  ``UPDATE … RETURNING`` and the event insert (whose trigger sends the NOTIFY);
- ``POST /api/v1/tasks``: the role check, the ``INSERT … RETURNING`` and the event insert.

What it leaves out is what the project adds on top: verifying the JWT (it only decodes the
claims), the rate limiter, the middleware (request id, headers, access log), request and
response validation, SQLAlchemy, the cursor HMAC. Rows are serialised with one
``orjson.dumps`` (``default=str`` for asyncpg's UUIDs).

Run by ``bench/crud.py`` through ``common.uvicorn_server("bench.crud_ceiling:app", …)`` with
``DATABASE_URL`` set; ``BENCH_POOL_SIZE`` (default 20) sizes the pool like the project's
(``pool_size`` plus as much overflow).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from taskapi.kit.ids import uuid7
from taskapi.tasks.repository import TASK_FIELDS

COLUMNS = ", ".join(f"t.{name}" for name in TASK_FIELDS)
MEMBER_JOIN = (
    " JOIN projects p ON p.id = t.project_id AND p.deleted_at IS NULL"
    " JOIN project_members m ON m.project_id = t.project_id AND m.user_id = $2"
    " AND m.removed_at IS NULL"
)
SESSION_USER = (
    "SELECT u.id, u.email, u.display_name, u.created_at FROM auth_sessions s"
    " JOIN users u ON u.id = s.user_id"
    " WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND u.deleted_at IS NULL"
)
VISIBLE_TASK = (
    f"SELECT {COLUMNS}, m.role FROM tasks t{MEMBER_JOIN} WHERE t.id = $1 AND t.deleted_at IS NULL"
)
VISIBLE_TASK_FOR_UPDATE = (
    f"SELECT {COLUMNS}, m.role, now() AS now FROM tasks t{MEMBER_JOIN}"
    " WHERE t.id = $1 AND t.deleted_at IS NULL FOR UPDATE OF t"
)
ROLE = (
    "SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id"
    " WHERE m.project_id = $1 AND m.user_id = $2"
    " AND m.removed_at IS NULL AND p.deleted_at IS NULL"
)
LIST_PAGE = (
    f"SELECT {COLUMNS}, t.due_sort FROM tasks t WHERE t.project_id = $1"
    " AND t.deleted_at IS NULL ORDER BY t.created_at DESC, t.id DESC LIMIT $2"
)
UPDATE = (
    "UPDATE tasks t SET title = $2, priority = $3, version = t.version + 1, updated_at = now()"
    f" WHERE t.id = $1 RETURNING {COLUMNS}"
)
INSERT = (
    "INSERT INTO tasks AS t (id, project_id, parent_id, title, description, status,"
    " priority, due_at, due_date, due_sort, tags, tag_keys, assignee_id, completed_at,"
    " created_by)"
    " VALUES ($1, $2, NULL, $3, '', 'todo', $4, NULL, NULL, NULL, '{}', '{}', NULL, NULL, $5)"
    f" RETURNING {COLUMNS}"
)
INSERT_EVENT = (
    "INSERT INTO events (project_id, entity, entity_id, version, type, actor_id, data, changes,"
    " target_user_id, hidden_from_project_id)"
    " VALUES ($1, 'task', $2, $3, $4, $5, $6::jsonb, $7::jsonb, NULL, NULL)"
)
WRITERS = ("owner", "editor")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"),
        min_size=size,
        max_size=size * 2,
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, default=str), status_code, headers, "application/json")


def _problem(status_code: int, title: str) -> Response:
    return _json({"title": title, "status": status_code}, status_code)


def _claims(request: Request) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(user_id, session_id)`` from the bearer token's payload (not verified: no auth layer)."""
    header = request.headers.get("authorization", "")
    try:
        payload = header.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    except (IndexError, KeyError, ValueError):
        return None


async def _user(conn: asyncpg.Connection, request: Request) -> uuid.UUID | None:
    claims = _claims(request)
    if claims is None:
        return None
    user_id, session_id = claims
    user = await conn.fetchrow(SESSION_USER, session_id, user_id)
    return None if user is None else user_id


@app.get("/health")
async def health() -> Response:
    return _json({"status": "ok"})


@app.get("/api/v1/tasks/{task_id}")
async def get_task(task_id: str, request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        user_id = await _user(conn, request)
        if user_id is None:
            return _problem(401, "Unauthenticated")
        row = await conn.fetchrow(VISIBLE_TASK, uuid.UUID(task_id), user_id)
    if row is None:
        return _problem(404, "Not found")
    task = dict(row)
    del task["role"]
    return _json(task, headers={"ETag": f'"{row["version"]}"'})


@app.get("/api/v1/tasks")
async def list_tasks(request: Request) -> Response:
    project_id = uuid.UUID(request.query_params["project_id"])
    limit = int(request.query_params.get("limit", "50"))
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        user_id = await _user(conn, request)
        if user_id is None:
            return _problem(401, "Unauthenticated")
        if await conn.fetchval(ROLE, project_id, user_id) is None:
            return _problem(404, "Not found")
        rows = await conn.fetch(LIST_PAGE, project_id, limit + 1)
    items = []
    for row in rows[:limit]:
        item = dict(row)
        del item["due_sort"]
        items.append(item)
    return _json({"items": items, "next_cursor": None})


@app.patch("/api/v1/tasks/{task_id}")
async def update_task(task_id: str, request: Request) -> Response:
    body = orjson.loads(await request.body())
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        user_id = await _user(conn, request)
        if user_id is None:
            return _problem(401, "Unauthenticated")
        row = await conn.fetchrow(VISIBLE_TASK_FOR_UPDATE, uuid.UUID(task_id), user_id)
        if row is None:
            return _problem(404, "Not found")
        if row["role"] not in WRITERS:
            return _problem(403, "Forbidden")
        before = dict(row)
        del before["role"], before["now"]
        if body.get("version") != row["version"]:
            return _json({"title": "Version conflict", "status": 409, "current": before}, 409)
        title = body.get("title", row["title"])
        priority = body.get("priority", row["priority"])
        updated = await conn.fetchrow(UPDATE, row["id"], title, priority)
        after = dict(updated)
        changes = {
            name: {"before": before[name], "after": value}
            for name, value in after.items()
            if name not in ("updated_at", "version") and before[name] != value
        }
        await conn.execute(
            INSERT_EVENT,
            updated["project_id"],
            updated["id"],
            updated["version"],
            "task.updated",
            user_id,
            orjson.dumps(after, default=str).decode(),
            orjson.dumps(changes, default=str).decode(),
        )
    return _json(after, headers={"ETag": f'"{updated["version"]}"'})


@app.post("/api/v1/tasks")
async def create_task(request: Request) -> Response:
    body = orjson.loads(await request.body())
    project_id = uuid.UUID(body["project_id"])
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        user_id = await _user(conn, request)
        if user_id is None:
            return _problem(401, "Unauthenticated")
        role = await conn.fetchval(ROLE, project_id, user_id)
        if role not in WRITERS:
            return _problem(422, "Validation")
        row = await conn.fetchrow(
            INSERT, uuid7(), project_id, body["title"], body.get("priority", 0), user_id
        )
        task = dict(row)
        changes = {name: {"before": None, "after": value} for name, value in task.items()}
        await conn.execute(
            INSERT_EVENT,
            row["project_id"],
            row["id"],
            row["version"],
            "task.created",
            user_id,
            orjson.dumps(task, default=str).decode(),
            orjson.dumps(changes, default=str).decode(),
        )
    headers = {"Location": f"/api/v1/tasks/{row['id']}", "ETag": f'"{row["version"]}"'}
    return _json(task, 201, headers)

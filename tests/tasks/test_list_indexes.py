"""The list queries use the partial indexes of migration 0006 on a large table (EXPLAIN)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskapi.db import create_engine, migrate
from taskapi.kit.cursors import CursorCodec
from taskapi.tasks import service
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)

TASKS = 100_000

SEED = """
WITH u AS (
    INSERT INTO users (id, email, display_name, password_hash)
    VALUES (:user_id, :email, 'Seed', 'x'), (:other_id, :other_email, 'Other', 'x')
), p AS (
    INSERT INTO projects (id, owner_id, name) VALUES (:project_id, :user_id, 'Big'),
                                                     (:other_project_id, :other_id, 'Other')
), m AS (
    INSERT INTO project_members (project_id, user_id, role)
    VALUES (:project_id, :user_id, 'owner'), (:other_project_id, :other_id, 'owner')
)
SELECT 1
"""

TASK_ROWS = """
INSERT INTO tasks (id, project_id, title, status, priority, due_sort, tags, tag_keys,
                   created_by, created_at, updated_at, deleted_at)
SELECT gen_random_uuid(),
       CASE WHEN i % 10 = 0 THEN CAST(:other_project_id AS uuid) ELSE CAST(:project_id AS uuid) END,
       'task ' || i,
       (ARRAY['todo', 'in_progress', 'done'])[1 + i % 3],
       i % 5,
       CASE WHEN i % 4 = 0 THEN NULL ELSE now() + (i % 1000) * interval '1 hour' END,
       ARRAY['tag' || (i % 50)],
       ARRAY['tag' || (i % 50)],
       CASE WHEN i % 10 = 0 THEN CAST(:other_id AS uuid) ELSE CAST(:user_id AS uuid) END,
       now() - i * interval '1 second',
       now() - (i % 777) * interval '1 minute',
       CASE WHEN i % 97 = 0 THEN now() END
FROM generate_series(1, :count) AS i
"""


@pytest.fixture(scope="module")
async def big_database(pg_server_url: str) -> AsyncIterator[tuple[AsyncEngine, dict[str, Any]]]:
    name = unique_database_name("taskapi_idx")
    await create_database(pg_server_url, name)
    url = with_database(pg_server_url, name)
    ids = {
        "user_id": uuid.uuid4(),
        "other_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "other_project_id": uuid.uuid4(),
        "email": f"seed-{uuid.uuid4().hex[:8]}@example.com",
        "other_email": f"seed-{uuid.uuid4().hex[:8]}@example.com",
    }
    engine = create_engine(url, pool_size=1)
    try:
        await migrate(url)
        async with engine.begin() as conn:
            await conn.execute(text(SEED), ids)
            await conn.execute(text(TASK_ROWS), {**ids, "count": TASKS})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE tasks"))
            await conn.execute(text("ANALYZE project_members"))
            await conn.execute(text("ANALYZE projects"))
        yield engine, ids
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every (node type, relation or index) in a plan tree."""
    found = [(plan["Node Type"], plan.get("Relation Name") or plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        found.extend(scans(child))
    return found


async def explain_list(
    conn: AsyncConnection, *, user_id: uuid.UUID, filters: service.TaskFilters, sort: str
) -> list[tuple[str, str | None]]:
    """Runs the service's list query, capturing it, and returns the scans of its plan."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM tasks t" in statement:
            captured.append((statement, parameters))

    sync_engine = conn.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        await service.list_tasks(
            conn,
            user_id=user_id,
            filters=filters,
            sort=sort,
            limit=50,
            cursor=None,
            codec=CursorCodec("secret", purpose="tasks"),
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    plan = result.scalar_one()
    return scans(plan[0]["Plan"])


def assert_uses_index(found: list[tuple[str, str | None]]) -> None:
    assert ("Seq Scan", "tasks") not in found, found
    assert any(node.endswith("Index Scan") or node == "Bitmap Index Scan" for node, _ in found), (
        found
    )


SORTS = [
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_at",
    "-due_at",
    "priority",
    "-priority",
]


class TestListQueryPlans:
    async def test_default_sort_within_a_project_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]]
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            found = await explain_list(
                conn,
                user_id=ids["user_id"],
                filters=service.TaskFilters(project_id=ids["project_id"]),
                sort="-created_at",
            )
        assert_uses_index(found)

    async def test_default_sort_across_visible_projects_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]]
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            found = await explain_list(
                conn, user_id=ids["user_id"], filters=service.TaskFilters(), sort="-created_at"
            )
        assert_uses_index(found)

    @pytest.mark.parametrize("sort", SORTS)
    async def test_each_sort_within_a_project_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]], sort: str
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            found = await explain_list(
                conn,
                user_id=ids["user_id"],
                filters=service.TaskFilters(project_id=ids["project_id"]),
                sort=sort,
            )
        assert_uses_index(found)

    @pytest.mark.parametrize("sort", SORTS)
    async def test_each_sort_across_visible_projects_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]], sort: str
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            found = await explain_list(
                conn, user_id=ids["user_id"], filters=service.TaskFilters(), sort=sort
            )
        assert_uses_index(found)

    @pytest.mark.parametrize("project", [True, False])
    async def test_tag_filter_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]], project: bool
    ) -> None:
        engine, ids = big_database
        filters = service.TaskFilters(
            project_id=ids["project_id"] if project else None, tags=("TAG7",)
        )
        async with engine.connect() as conn:
            found = await explain_list(
                conn, user_id=ids["user_id"], filters=filters, sort="-created_at"
            )
        assert_uses_index(found)

    @pytest.mark.parametrize("project", [True, False])
    async def test_status_filter_uses_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]], project: bool
    ) -> None:
        engine, ids = big_database
        filters = service.TaskFilters(
            project_id=ids["project_id"] if project else None, statuses=("done",)
        )
        async with engine.connect() as conn:
            found = await explain_list(
                conn, user_id=ids["user_id"], filters=filters, sort="-created_at"
            )
        assert_uses_index(found)

    async def test_parent_and_assignee_filters_use_an_index(
        self, big_database: tuple[AsyncEngine, dict[str, Any]]
    ) -> None:
        engine, ids = big_database
        filters = service.TaskFilters(project_id=ids["project_id"], parent_id="null")
        async with engine.connect() as conn:
            found = await explain_list(
                conn, user_id=ids["user_id"], filters=filters, sort="priority"
            )
        assert_uses_index(found)

"""The list queries use the partial indexes of migration 0006 on a large table (EXPLAIN)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskapi.kit.cursors import CursorCodec
from taskapi.tasks import service
from tests.fixtures.plans import analyze, captured_statements, plan_nodes, two_owner_database

TASKS = 100_000

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
    async with two_owner_database(pg_server_url, "taskapi_idx") as (engine, ids):
        async with engine.begin() as conn:
            await conn.execute(text(TASK_ROWS), {**ids, "count": TASKS})
        await analyze(engine, "tasks", "project_members", "projects")
        yield engine, ids


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every (node type, relation or index) in a plan tree."""
    return [
        (node["Node Type"], node.get("Relation Name") or node.get("Index Name"))
        for node in plan_nodes(plan)
    ]


async def explain_list(
    conn: AsyncConnection, *, user_id: uuid.UUID, filters: service.TaskFilters, sort: str
) -> list[tuple[str, str | None]]:
    """Runs the service's list query, capturing it, and returns the scans of its plan."""
    with captured_statements(conn, lambda statement: "FROM tasks t" in statement) as captured:
        await service.list_tasks(
            conn,
            user_id=user_id,
            filters=filters,
            sort=sort,
            limit=50,
            cursor=None,
            codec=CursorCodec("secret", purpose="tasks"),
        )
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

"""The search reads only the caller's rows: its plans, on a table mostly of another user's tasks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskapi.kit.cursors import CursorCodec
from taskapi.search import service
from tests.fixtures.plans import analyze, captured_statements, plan_nodes, two_owner_database

MINE = 2_000
THEIRS = 30_000

# every task mentions "widget" (in the title one time in four); one in five says "described"
TASKS = """
INSERT INTO tasks (id, project_id, title, description, created_by)
SELECT gen_random_uuid(), CAST(:project AS uuid),
       CASE WHEN i % 4 = 0 THEN 'widget ' ELSE 'gadget ' END || 'number ' || i,
       CASE WHEN i % 5 = 0 THEN 'a widget described, item ' ELSE 'a widget, item ' END || i,
       CAST(:owner AS uuid)
FROM generate_series(1, :count) AS i
"""


@pytest.fixture(scope="module")
async def big_database(pg_server_url: str) -> AsyncIterator[tuple[AsyncEngine, dict[str, Any]]]:
    async with two_owner_database(pg_server_url, "taskapi_search") as (engine, ids):
        async with engine.begin() as conn:
            for project, owner, count in (
                (ids["other_project_id"], ids["other_id"], THEIRS),
                (ids["project_id"], ids["user_id"], MINE),
            ):
                await conn.execute(
                    text(TASKS), {"project": project, "owner": owner, "count": count}
                )
        await analyze(engine, "tasks", "projects", "project_members", vacuum=True)
        yield engine, ids


async def search_plans(
    conn: AsyncConnection, *, user_id: uuid.UUID, q: str, cursor: str | None = None
) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """Runs the search, then EXPLAIN ANALYZE of each ranking statement it ran."""
    ranking = "SELECT t.id, t.updated_at"
    with captured_statements(conn, lambda statement: statement.startswith(ranking)) as captured:
        page = await service.search_tasks(
            conn,
            user_id=user_id,
            config="english",
            cursors=CursorCodec("secret", purpose="search"),
            q=q,
            project_id=None,
            statuses=None,
            limit=20,
            cursor=cursor,
        )
    plans = []
    for statement, parameters in captured:
        result = await conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        )
        plans.append(plan_nodes(result.scalar_one()[0]["Plan"]))
    return page, plans


class TestSearchQueryPlans:
    async def test_first_page_reads_only_the_callers_title_matches(
        self, big_database: tuple[AsyncEngine, dict[str, Any]]
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            page, plans = await search_plans(conn, user_id=ids["user_id"], q="widget")

        assert len(page["items"]) == 20
        assert len(plans) == 1  # the title tier filled the page
        [plan] = plans
        assert not any(node["Node Type"] == "Seq Scan" for node in plan)
        [scan] = [node for node in plan if node["Node Type"] == "Bitmap Index Scan"]
        assert scan["Index Name"] == "ix_tasks_search_head_live"
        assert scan["Actual Rows"] == MINE // 4  # none of the other user's 30,000 matches

    async def test_description_tier_reads_only_the_callers_rows(
        self, big_database: tuple[AsyncEngine, dict[str, Any]]
    ) -> None:
        engine, ids = big_database
        async with engine.connect() as conn:
            page, plans = await search_plans(conn, user_id=ids["user_id"], q="described")

        assert len(page["items"]) == 20
        description_tier = plans[-1]
        assert not any(node["Node Type"] == "Seq Scan" for node in description_tier)
        scans = [node for node in description_tier if node["Node Type"] == "Bitmap Index Scan"]
        assert scans
        for scan in scans:  # the project leads both indexes: never the other user's 6,000 matches
            assert scan["Index Name"] in ("ix_tasks_search_live", "ix_tasks_search_head_live")
            assert scan["Actual Rows"] <= MINE

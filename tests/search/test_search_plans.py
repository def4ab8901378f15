"""The search reads only the caller's rows: its plans, on a table mostly of another user's tasks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskapi.db import create_engine, migrate
from taskapi.kit.cursors import CursorCodec
from taskapi.search import service
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)

MINE = 2_000
THEIRS = 30_000

SEED = """
WITH u AS (
    INSERT INTO users (id, email, display_name, password_hash)
    VALUES (:user_id, :email, 'Me', 'x'), (:other_id, :other_email, 'Other', 'x')
), p AS (
    INSERT INTO projects (id, owner_id, name) VALUES (:project_id, :user_id, 'Mine'),
                                                     (:other_project_id, :other_id, 'Theirs')
), m AS (
    INSERT INTO project_members (project_id, user_id, role)
    VALUES (:project_id, :user_id, 'owner'), (:other_project_id, :other_id, 'owner')
)
SELECT 1
"""

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
    name = unique_database_name("taskapi_search")
    await create_database(pg_server_url, name)
    url = with_database(pg_server_url, name)
    ids = {
        "user_id": uuid.uuid4(),
        "other_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "other_project_id": uuid.uuid4(),
        "email": f"me-{uuid.uuid4().hex[:8]}@example.com",
        "other_email": f"other-{uuid.uuid4().hex[:8]}@example.com",
    }
    engine = create_engine(url, pool_size=1)
    try:
        await migrate(url)
        async with engine.begin() as conn:
            await conn.execute(text(SEED), ids)
            for project, owner, count in (
                (ids["other_project_id"], ids["other_id"], THEIRS),
                (ids["project_id"], ids["user_id"], MINE),
            ):
                await conn.execute(
                    text(TASKS), {"project": project, "owner": owner, "count": count}
                )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("tasks", "projects", "project_members"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
        yield engine, ids
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(nodes(child))
    return found


async def search_plans(
    conn: AsyncConnection, *, user_id: uuid.UUID, q: str, cursor: str | None = None
) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """Runs the search, then EXPLAIN ANALYZE of each ranking statement it ran."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT t.id, t.updated_at"):
            captured.append((statement, parameters))

    sync_engine = conn.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
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
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    plans = []
    for statement, parameters in captured:
        result = await conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        )
        plans.append(nodes(result.scalar_one()[0]["Plan"]))
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

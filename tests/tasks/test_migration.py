"""Migration 0006 (task list indexes) goes up and down cleanly."""

from __future__ import annotations

from taskapi.db import downgrade, migrate
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)
from tests.fixtures.sql import fetch

INDEXES_QUERY = (
    "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks' AND indexname LIKE 'ix_tasks_%'"
)
EXPECTED = {
    "ix_tasks_live_project_created",
    "ix_tasks_live_project_updated",
    "ix_tasks_live_project_due_asc",
    "ix_tasks_live_project_due_desc",
    "ix_tasks_live_project_priority",
    "ix_tasks_live_tag_keys",
    "ix_tasks_live_parent",
    "ix_tasks_live_assignee",
    "ix_tasks_deletion_root",
    "ix_tasks_trash",
}


class TestTaskIndexMigration:
    async def test_upgrade_downgrade_upgrade(self, pg_server_url: str) -> None:
        name = unique_database_name("taskapi_mig")
        await create_database(pg_server_url, name)
        url = with_database(pg_server_url, name)
        try:
            await migrate(url, "0006")
            names = {row["indexname"] for row in await fetch(url, INDEXES_QUERY)}
            assert names == EXPECTED
            await downgrade(url, "0005")
            assert await fetch(url, INDEXES_QUERY) == []
            await migrate(url)
            names = {row["indexname"] for row in await fetch(url, INDEXES_QUERY)}
            assert names >= EXPECTED
        finally:
            await drop_database(pg_server_url, name)

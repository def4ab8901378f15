"""The migrations: an empty database goes up to head, down to base and up again (STYLE §14)."""

from __future__ import annotations

from taskapi.db import downgrade, migrate
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)
from tests.fixtures.sql import fetch, fetchval

TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"


class TestMigrations:
    async def test_up_down_up(self, pg_server_url: str) -> None:
        name = unique_database_name("taskapi_migrations")
        await create_database(pg_server_url, name)
        url = with_database(pg_server_url, name)
        try:
            await migrate(url)
            tables = {row[0] for row in await fetch(url, TABLES)}
            assert {"users", "auth_sessions", "refresh_tokens", "projects", "project_members"} <= (
                tables
            )
            head = await fetchval(url, "SELECT version_num FROM alembic_version")
            assert head

            await downgrade(url, "base")
            assert {row[0] for row in await fetch(url, TABLES)} <= {"alembic_version"}
            assert await fetchval(url, "SELECT count(*) FROM alembic_version") == 0

            await migrate(url)
            assert {row[0] for row in await fetch(url, TABLES)} == tables
            assert await fetchval(url, "SELECT version_num FROM alembic_version") == head
        finally:
            await drop_database(pg_server_url, name)

    async def test_migrate_twice_is_a_no_op(self, database_url: str) -> None:
        before = await fetchval(database_url, "SELECT version_num FROM alembic_version")
        await migrate(database_url)
        assert await fetchval(database_url, "SELECT version_num FROM alembic_version") == before

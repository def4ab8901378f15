"""``/health`` and ``/health/ready`` (API.md §9)."""

from __future__ import annotations

from pathlib import Path

import httpx

from taskapi import __version__
from tests.conftest import make_settings
from tests.fixtures.apps import app_client
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)


class TestHealth:
    async def test_ok_with_version(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": __version__}

    async def test_needs_no_database(self, tmp_path: Path) -> None:
        # nothing listens on port 1: /health still answers
        settings = make_settings("postgresql://postgres@127.0.0.1:1/none", tmp_path)
        async with app_client(settings) as (_, http):
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["type"] == "/problems/unavailable"
            assert ready.headers["retry-after"]


class TestReady:
    async def test_ready_when_migrated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["status"] == "ready"

    async def test_unavailable_when_schema_is_behind(
        self, pg_server_url: str, tmp_path: Path
    ) -> None:
        name = unique_database_name("taskapi_unmigrated")
        await create_database(pg_server_url, name)
        try:
            settings = make_settings(with_database(pg_server_url, name), tmp_path)
            async with app_client(settings) as (_, http):
                response = await http.get("/health/ready")
                assert response.status_code == 503
                body = response.json()
                assert body["type"] == "/problems/unavailable"
                assert "schema" in body["detail"]
                assert response.headers["retry-after"]
        finally:
            await drop_database(pg_server_url, name)

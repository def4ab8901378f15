"""While PostgreSQL is down, data calls answer 503 ``unavailable`` with Retry-After at once, the
process stays up, and it recovers by itself when the database returns (API.md §9).

A private embedded cluster, a real ``taskapi serve`` process, and a fast shutdown of the
postmaster (SIGINT ends every session, as a crash or failover would)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from pgserver import postgres_server

from taskapi.db import EmbeddedPostgres, migrate
from tests.conftest import make_settings
from tests.fixtures.apps import app_client
from tests.fixtures.database import ROOT
from tests.fixtures.factories import register_user
from tests.fixtures.server import live_server
from tests.fixtures.sql import execute

# a functional bound ("no hang"), not a benchmark: a stuck pool or connect would exceed it
NO_HANG = httpx.Timeout(10.0)
RECOVERY_SECONDS = 60.0


@pytest.fixture
def embedded() -> Iterator[EmbeddedPostgres]:
    # not under pytest's shared temporary root, which concurrent pytest sessions clean up
    data_dir = ROOT / ".taskapi" / f"outage-{uuid.uuid4().hex[:8]}"
    cluster = EmbeddedPostgres(data_dir)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def stop_postgres(cluster: EmbeddedPostgres) -> None:
    """Fast shutdown of the postmaster; returns once it is gone."""
    pid_file = cluster.pgdata / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while pid_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not stop")
        time.sleep(0.1)


def start_postgres(cluster: EmbeddedPostgres) -> str:
    server = postgres_server.get_server(cluster.pgdata)
    server.ensure_postgres_running()
    return str(server.get_uri())


async def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.slow
class TestDatabaseOutage:
    async def test_unavailable_then_recovers(
        self, embedded: EmbeddedPostgres, tmp_path: Path
    ) -> None:
        url = await asyncio.to_thread(embedded.start)
        await migrate(url)
        with live_server(url, tmp_path / "data") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=NO_HANG) as http:
                user = await register_user(http)
                assert (await http.get("/api/v1/users/me", headers=user.headers)).status_code == 200

                await asyncio.to_thread(stop_postgres, embedded)

                # the pooled connections are dead, then new ones are refused: both are 503
                for _ in range(3):
                    await assert_unavailable(
                        await http.get("/api/v1/users/me", headers=user.headers)
                    )
                await assert_unavailable(
                    await http.post(
                        "/api/v1/auth/login", json={"email": user.email, "password": user.password}
                    )
                )
                await assert_unavailable(
                    await http.patch(
                        "/api/v1/users/me", json={"display_name": "X"}, headers=user.headers
                    )
                )
                assert (await http.get("/health")).status_code == 200
                ready = await http.get("/health/ready")
                await assert_unavailable(ready)
                assert server.process.poll() is None  # the process stays up

                assert await asyncio.to_thread(start_postgres, embedded) == url

                deadline = time.monotonic() + RECOVERY_SECONDS
                while True:
                    response = await http.get("/api/v1/users/me", headers=user.headers)
                    if response.status_code == 200:
                        break
                    await assert_unavailable(response)
                    assert time.monotonic() < deadline, "did not recover"
                    await asyncio.sleep(0.2)
                assert (await http.get("/health/ready")).status_code == 200
                login = await http.post(
                    "/api/v1/auth/login", json={"email": user.email, "password": user.password}
                )
                assert login.status_code == 200
        # every failure was answered as a 503: nothing escaped to uvicorn or our 500 handler
        assert "Exception in ASGI application" not in server.log()
        assert "unhandled_error" not in server.log()


class TestConnectionsRefused:
    async def test_too_many_connections_is_unavailable(
        self, database_url: str, tmp_path: Path, client: httpx.AsyncClient
    ) -> None:
        role = f"taskapi_nobody_{uuid.uuid4().hex[:8]}"
        await execute(database_url, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        try:
            parts = urlsplit(database_url)
            host = parts.netloc.rsplit("@", 1)[-1]
            refused_url = urlunsplit(parts._replace(netloc=f"{role}@{host}"))
            user = await register_user(client)
            async with app_client(make_settings(refused_url, tmp_path)) as (_, http):
                response = await http.get("/api/v1/users/me", headers=user.headers)
                await assert_unavailable(response)
                await assert_unavailable(await http.get("/health/ready"))
        finally:
            await execute(database_url, f'DROP ROLE "{role}"')

"""Real ``taskapi serve`` processes: the query token never reaches the log, SIGTERM closes sockets
with 1001, three processes deliver every change to every client exactly once and in order, and a
database restart loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import httpx

from taskapi.db import EmbeddedPostgres, migrate
from tests.fixtures.factories import UserSession, register_user
from tests.fixtures.server import LiveServer, live_server, stop_server
from tests.realtime.conftest import (
    TIMEOUT,
    changes,
    closed_with,
    create_task,
    open_socket,
    server_env,
    shared_project,
)


def task_changes(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in received if c["entity"] == "task"]


class TestServeProcess:
    async def test_query_token_never_reaches_the_log(
        self, database_url: str, tmp_path: Path
    ) -> None:
        with live_server(database_url, tmp_path, env=server_env()) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as api:
                user = await register_user(api)
            ws = await open_socket(server, token=user.access_token)
            await ws.close()
            log = server.log()
        assert "/api/v1/ws?token=[redacted]" in log
        assert user.access_token not in log
        assert user.access_token.split(".")[2] not in log

    async def test_sigterm_closes_sockets_with_1001(
        self, database_url: str, tmp_path: Path
    ) -> None:
        with live_server(database_url, tmp_path, env=server_env()) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as api:
                user = await register_user(api)
            ws = await open_socket(server, token=user.access_token)
            stopping = threading.Thread(target=stop_server, args=(server.process,))
            stopping.start()
            code = await closed_with(ws, timeout=TIMEOUT)
            await asyncio.to_thread(stopping.join)
        assert code == 1001


class TestThreeProcesses:
    async def test_every_client_gets_every_change_once_in_order(
        self, database_url: str, tmp_path: Path
    ) -> None:
        with contextlib.ExitStack() as stack:
            servers: list[LiveServer] = [
                stack.enter_context(live_server(database_url, tmp_path / str(i), env=server_env()))
                for i in range(3)
            ]
            apis = [httpx.AsyncClient(base_url=s.base_url, timeout=TIMEOUT) for s in servers]
            try:
                users = [await register_user(api) for api in apis]
                project_id = await shared_project(apis[0], owner=users[0], members=users[1:])
                sockets = [
                    await open_socket(server, token=user.access_token)
                    for server in servers
                    for user in users
                ]
                made: list[str] = []
                for round_ in range(4):
                    for api, user in zip(apis, users, strict=True):
                        task = await create_task(
                            api, user=user, project_id=project_id, title=f"r{round_}"
                        )
                        made.append(task["id"])
                streams = [
                    task_changes(
                        await changes(ws, until=lambda r: len(task_changes(r)) >= len(made))
                    )
                    for ws in sockets
                ]
                for ws in sockets:
                    await ws.close()
            finally:
                for api in apis:
                    await api.aclose()
        for stream in streams:
            ids = [c["id"] for c in stream]
            assert sorted(ids) == sorted(made)  # every change, exactly once
            assert len(set(ids)) == len(ids)
            assert [c["event_id"] for c in stream] == [c["event_id"] for c in streams[0]]


class TestDatabaseRestart:
    async def test_delivery_resumes_and_nothing_is_lost(self, tmp_path: Path) -> None:
        cluster = EmbeddedPostgres(tmp_path / "pg")
        url = cluster.start()
        try:
            await migrate(url)
            with live_server(url, tmp_path / "server", env=server_env()) as server:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as api:
                    alice = await register_user(api)
                    bob = await register_user(api)
                    project_id = await shared_project(api, owner=alice, members=[bob])
                    ws = await open_socket(server, token=bob.access_token)
                    before = await create_task(api, user=alice, project_id=project_id)
                    await asyncio.to_thread(cluster.stop)
                    assert (await api.get("/health/ready")).status_code == 503
                    assert await asyncio.to_thread(cluster.start) == url
                    after = await _create_when_back(api, user=alice, project_id=project_id)
                    received = await changes(ws, until=lambda r: len(task_changes(r)) >= 2)
                    await ws.send('{"type":"ping"}')
                    await ws.close()
        finally:
            cluster.stop()
        assert [c["id"] for c in task_changes(received)] == [before["id"], after["id"]]


async def _create_when_back(
    api: httpx.AsyncClient, *, user: UserSession, project_id: str
) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT * 3):
        while True:
            response = await api.post(
                "/api/v1/tasks",
                json={"project_id": project_id, "title": "after"},
                headers=user.headers,
            )
            if response.status_code == 201:
                task: dict[str, Any] = response.json()
                return task
            assert response.status_code == 503, response.text
            await asyncio.sleep(0.2)

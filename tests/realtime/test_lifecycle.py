"""Every way out of a socket frees every reference to it (API.md §8 heartbeat and limits): close
frame, error, idle, slow consumer, revocation, abrupt loss, server shutdown; the fan-out survives
the loss of its LISTEN connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from taskapi.db import asyncpg_dsn
from taskapi.events import writer
from taskapi.realtime.listener import APPLICATION_NAME
from tests.fixtures.factories import register_user
from tests.realtime.conftest import (
    TIMEOUT,
    InProcessServer,
    changes,
    closed_with,
    create_project,
    create_task,
    empty_hub,
    inprocess_server,
    open_socket,
    receive,
    wait_until,
    ws_url,
)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    """A server of its own, so its hub holds only this test's sockets."""
    with inprocess_server(database_url, tmp_path, ws_idle_timeout=1.5) as own:
        yield own


@pytest.fixture
async def own_api(server: InProcessServer) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        yield client


async def assert_freed(server: InProcessServer) -> None:
    await wait_until(lambda: empty_hub(server.stats()))


class TestWaysOut:
    async def test_client_close_frees_everything(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        await create_project(own_api, owner=user)
        ws = await open_socket(server, token=user.access_token)
        stats = server.stats()
        assert stats["connections"] == 1
        assert stats["projects"] == 2  # the Inbox and the new project
        await ws.close()
        await assert_freed(server)

    async def test_protocol_error_frees_everything(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        ws = await open_socket(server, token=user.access_token)
        await ws.send(b"binary")
        assert await closed_with(ws) == 1003
        await assert_freed(server)

    async def test_idle_socket_closes_4408_and_is_freed(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        ws = await open_socket(server, token=user.access_token)
        assert await closed_with(ws) == 4408
        await assert_freed(server)

    async def test_pinging_socket_stays_open_past_the_idle_timeout(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        ws = await open_socket(server, token=user.access_token)
        for _ in range(6):
            await asyncio.sleep(0.5)
            await ws.send('{"type":"ping"}')
            while (await receive(ws))["type"] != "pong":
                pass  # e.g. the Inbox's creation
        await ws.close()
        await assert_freed(server)

    async def test_abrupt_loss_without_close_frame_is_freed(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        ws = await open_socket(server, token=user.access_token)
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.transport.abort()  # RST, no close frame
        await assert_freed(server)

    async def test_revoked_socket_is_freed(
        self, server: InProcessServer, own_api: httpx.AsyncClient
    ) -> None:
        user = await register_user(own_api)
        ws = await open_socket(server, token=user.access_token)
        await own_api.post("/api/v1/auth/logout", json={"refresh_token": user.refresh_token})
        assert await closed_with(ws) == 4401
        await assert_freed(server)

    async def test_slow_consumer_closes_4429_and_is_freed(
        self, server: InProcessServer, own_api: httpx.AsyncClient, app: Any
    ) -> None:
        user = await register_user(own_api)
        project_id = uuid.UUID(await create_project(own_api, owner=user))
        # a client that never reads: its library stops reading once one message is queued
        ws = await connect(ws_url(server, token=user.access_token), max_queue=1)
        blob = "x" * 60_000
        for _ in range(40):  # up to 800 changes of 60 kB: far past the queue bound
            async with app.state.engine.begin() as conn:
                for version in range(20):
                    await writer.record(
                        conn,
                        type="task.updated",
                        entity="task",
                        entity_id=uuid.uuid4(),
                        project_id=project_id,
                        version=version,
                        actor_id=None,
                        data={"blob": blob},
                    )
            if server.call(lambda: server.app.state.realtime_hub.closed_by_code.get(4429, 0)):
                break
        assert server.call(lambda: server.app.state.realtime_hub.closed_by_code.get(4429, 0)) == 1
        assert await closed_with(ws) == 4429
        await assert_freed(server)

    async def test_server_stop_frees_everything(self, database_url: str, tmp_path: Path) -> None:
        with inprocess_server(database_url, tmp_path) as own:
            async with httpx.AsyncClient(base_url=own.base_url) as api:
                user = await register_user(api)
            ws = await open_socket(own, token=user.access_token)
            hub = own.app.state.realtime_hub
        assert await closed_with(ws) in (1001, 1012)
        assert empty_hub(hub.stats())


class TestListenerLoss:
    async def test_listener_killed_reconnects_and_loses_nothing(
        self, server: InProcessServer, own_api: httpx.AsyncClient, database_url: str
    ) -> None:
        user = await register_user(own_api)
        project_id = await create_project(own_api, owner=user)
        ws = await open_socket(server, token=user.access_token)
        listener = server.app.state.realtime_listener
        admin = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert killed >= 1
        during = await create_task(own_api, user=user, project_id=project_id)
        await wait_until(lambda: listener.reconnects >= 1)
        after = await create_task(own_api, user=user, project_id=project_id)
        received = await changes(
            ws, until=lambda r: len([c for c in r if c["entity"] == "task"]) >= 2
        )
        assert [c["id"] for c in received if c["entity"] == "task"] == [during["id"], after["id"]]
        await ws.send('{"type":"ping"}')
        await ws.close()
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()

"""A real server for the socket tests, and keyword-only helpers that drive it over REST and WS."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.factories import UserSession, register_user, unique_email
from tests.fixtures.server import LiveServer, live_server

TIMEOUT = 10.0  # every wait in these tests is bounded by this

SERVER_ENV = {
    "TASKAPI_WS_AUTH_TIMEOUT": "1",
    "TASKAPI_WS_SWEEP_INTERVAL": "0.2",
}


def server_env(**overrides: str) -> dict[str, str]:
    env = dict(SERVER_ENV)
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def ws_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(database_url, tmp_path_factory.mktemp("ws"), env=server_env()) as server:
        yield server


@pytest.fixture
async def api(ws_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ws_server.base_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def alice(api: httpx.AsyncClient) -> UserSession:
    return await register_user(api, email=unique_email("alice"))


@pytest.fixture
async def bob(api: httpx.AsyncClient) -> UserSession:
    return await register_user(api, email=unique_email("bob"))


# ---------------------------------------------------------------- REST helpers


async def create_project(api: httpx.AsyncClient, *, owner: UserSession, name: str = "p") -> str:
    response = await api.post("/api/v1/projects", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


async def add_member(
    api: httpx.AsyncClient,
    *,
    owner: UserSession,
    project_id: str,
    member: UserSession,
    role: str = "editor",
) -> None:
    response = await api.post(
        f"/api/v1/projects/{project_id}/members",
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text


async def remove_member(
    api: httpx.AsyncClient, *, owner: UserSession, project_id: str, member: UserSession
) -> None:
    response = await api.delete(
        f"/api/v1/projects/{project_id}/members/{member.id}", headers=owner.headers
    )
    assert response.status_code == 204, response.text


async def create_task(
    api: httpx.AsyncClient, *, user: UserSession, project_id: str, title: str = "t"
) -> dict[str, Any]:
    response = await api.post(
        "/api/v1/tasks", json={"project_id": project_id, "title": title}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def shared_project(
    api: httpx.AsyncClient, *, owner: UserSession, members: list[UserSession]
) -> str:
    project_id = await create_project(api, owner=owner)
    for member in members:
        await add_member(api, owner=owner, project_id=project_id, member=member)
    return project_id


# ---------------------------------------------------------------- socket helpers


def ws_url(server: LiveServer, **query: str) -> str:
    url = f"{server.ws_url}/api/v1/ws"
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


async def open_socket(
    server: LiveServer, *, token: str | None = None, ready: bool = True, **kwargs: Any
) -> ClientConnection:
    """A connected client; with ``token`` authenticated by query, and its ``ready`` consumed."""
    query: dict[str, str] = {}
    if token is not None:
        query["token"] = token
    since = kwargs.pop("since", None)
    if since is not None:
        query["since"] = since
    ws = await connect(ws_url(server, **query), open_timeout=TIMEOUT, **kwargs)
    if ready:
        message = await receive(ws)
        assert message["type"] == "ready", message
    return ws


async def receive(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        data = await ws.recv()
    message: dict[str, Any] = json.loads(data)
    return message


async def changes(
    ws: ClientConnection, *, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The change messages received until ``until(received)`` holds (other types skipped)."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while not until(received):
            message = json.loads(await ws.recv())
            if message["type"] == "change":
                received.append(message)
    return received


async def closed_with(ws: ClientConnection, timeout: float = TIMEOUT) -> int | None:
    """The close code the server sent, reading (and dropping) anything before it."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


async def quiet(ws: ClientConnection, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Whatever arrives within ``seconds`` (to show that nothing more does)."""
    received = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                received.append(json.loads(await ws.recv()))
    except TimeoutError:
        pass
    return received


def hub_stats(server: LiveServer) -> dict[str, int] | None:
    """The hub's sizes as last logged by the sweeper (``ws.hub`` lines)."""
    stats = None
    for line in server.log().splitlines():
        if '"ws.hub"' not in line:
            continue
        record = json.loads(line)
        stats = {key: record[key] for key in ("connections", "users", "projects", "syncing",
                                              "tasks", "queued")}
    return stats


async def wait_for_stats(
    server: LiveServer, predicate: Callable[[dict[str, int]], bool]
) -> dict[str, int]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            stats = hub_stats(server)
            if stats is not None and predicate(stats):
                return stats
            await asyncio.sleep(0.1)


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "server"

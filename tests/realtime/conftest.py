"""A real server for the socket tests, and keyword-only helpers that drive it over REST and WS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from taskapi.app import create_app
from tests.conftest import make_settings
from tests.fixtures.factories import UserSession, register_user, unique_email
from tests.fixtures.server import LiveServer, free_port

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


@dataclass
class InProcessServer:
    """The app served by uvicorn on a thread of this process: its hub can be inspected."""

    base_url: str
    ws_url: str
    app: Any
    loop: asyncio.AbstractEventLoop

    def call(self, function: Callable[[], Any]) -> Any:
        """Runs ``function`` on the server's event loop (its structures are not thread-safe)."""

        async def run() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(TIMEOUT)

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.call(self.app.state.realtime_hub.stats)
        return stats


@contextlib.contextmanager
def inprocess_server(
    database_url: str, data_dir: Path, **settings: Any
) -> Iterator[InProcessServer]:
    """``create_app`` on a real uvicorn (legacy ``websockets`` protocol, as ``taskapi serve``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy protocol, kept on purpose (ADR 0006)
        import uvicorn.protocols.websockets.websockets_impl
    values: dict[str, Any] = {"ws_auth_timeout": 1, "ws_sweep_interval": 0.2, **settings}
    app = create_app(make_settings(database_url, data_dir, **values))
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets",
        ws_per_message_deflate=False,
        ws_max_size=65536,
        ws_ping_interval=None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        # the loop is closed by its own thread once everything on it has finished
        try:
            loop.run_until_complete(server.serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.02)
    try:
        yield InProcessServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app, loop)
    finally:
        server.should_exit = True
        thread.join(3 * TIMEOUT)
        if thread.is_alive():
            server.force_exit = True  # a socket that will not close must not hang the run
            thread.join(TIMEOUT)


@pytest.fixture(scope="session")
def ws_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with inprocess_server(database_url, tmp_path_factory.mktemp("ws")) as server:
        yield server


@pytest.fixture
async def api(ws_server: InProcessServer) -> AsyncIterator[httpx.AsyncClient]:
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


class Served(Protocol):
    ws_url: str


def ws_url(server: Served, **query: str) -> str:
    url = f"{server.ws_url}/api/v1/ws"
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


async def open_socket(
    server: Served, *, token: str | None = None, ready: bool = True, **kwargs: Any
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
        stats = {
            key: record[key]
            for key in ("connections", "users", "projects", "syncing", "tasks", "queued")
        }
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


async def wait_until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.05)


def empty_hub(stats: dict[str, int]) -> bool:
    return all(value == 0 for value in stats.values())


LEGACY_PROTOCOL_WARNINGS = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:websockets.legacy.server"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The in-process server runs uvicorn's legacy ``websockets`` protocol (see ADR 0006)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(LEGACY_PROTOCOL_WARNINGS)

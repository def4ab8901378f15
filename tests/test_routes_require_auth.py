"""Every route outside API.md §1's public list answers 401 without a token, so a new route
cannot forget authentication. The WebSocket route closes with 4401 instead."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/problems/{kind}"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/"),  # the web client's page: it holds no data
}
DUMMY_ID = "01930000-0000-7000-8000-000000000000"
_PARAM = re.compile(r"{([^}:]+)(:[^}]+)?}")


def documentation_routes(app: FastAPI) -> set[tuple[str, str]]:
    """``/docs``, ``/openapi.json`` and the pages that come with them (public, no data)."""
    paths = [app.docs_url, app.openapi_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url]
    return {(method, path) for path in paths if path for method in ("GET", "HEAD")}


def concrete(path: str) -> str:
    return _PARAM.sub(DUMMY_ID, path)


def all_routes(app: FastAPI) -> list[tuple[str, BaseRoute]]:
    """``(full path, route)`` of every route, included routers flattened."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path if context.path is not None else getattr(route, "path", "")
        found.append((str(path), route))
    return found


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, route in all_routes(app):
        if isinstance(route, APIRoute | Route):
            methods = sorted(route.methods or ())
            found.extend((method, path) for method in methods if method != "HEAD")
    return found


def websocket_routes(app: FastAPI) -> list[str]:
    return [
        path
        for path, route in all_routes(app)
        if isinstance(route, APIWebSocketRoute | WebSocketRoute)
    ]


def other_routes(app: FastAPI) -> list[BaseRoute]:
    return [
        route
        for _, route in all_routes(app)
        if not isinstance(route, APIRoute | Route | APIWebSocketRoute | WebSocketRoute)
    ]


async def websocket_close_code(app: FastAPI, path: str, *, timeout: float = 10.0) -> int:
    """Connects over raw ASGI with a bad token and returns the code the app closes with."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    await incoming.put({"type": "websocket.connect"})

    async def receive() -> dict[str, Any]:
        return await incoming.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            # an app that waits for an auth message gets one with a token that is no token
            await incoming.put(
                {"type": "websocket.receive", "text": '{"type": "auth", "token": "x"}'}
            )
        elif message["type"] == "websocket.close" and not closed.done():
            closed.set_result(message.get("code", 1000))
        elif message["type"] == "websocket.http.response.start" and not closed.done():
            closed.set_result(message["status"])

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
        "state": {},
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(asyncio.shield(closed), timeout)
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class TestEveryRouteRequiresAuthentication:
    async def test_the_walk_finds_routes(self, app: FastAPI) -> None:
        routes = set(http_routes(app))
        assert ("GET", "/api/v1/users/me") in routes
        assert routes >= PUBLIC

    async def test_no_mount_hides_routes(self, app: FastAPI) -> None:
        for route in other_routes(app):
            # only the static web client may be mounted: it holds no data
            assert isinstance(route, Mount), route
            assert isinstance(route.app, StaticFiles), route

    async def test_every_http_route_outside_the_public_list_is_401(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        public = PUBLIC | documentation_routes(app)
        checked = []
        for method, path in http_routes(app):
            if (method, path) in public:
                continue
            body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
            response = await client.request(method, concrete(path), json=body)
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.json()["type"] == "/problems/unauthenticated"
            checked.append((method, path))
        assert ("PATCH", "/api/v1/users/me") in checked

    @pytest.mark.parametrize("method", ["GET", "POST"])
    async def test_public_routes_answer_without_a_token(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        for public_method, path in sorted(PUBLIC):
            if public_method != method:
                continue
            response = await client.request(
                method, concrete(path), json={} if method == "POST" else None
            )
            assert response.status_code != 401 or path.endswith(("/login", "/refresh")), path

    async def test_every_websocket_route_closes_4401(self, app: FastAPI) -> None:
        for path in websocket_routes(app):
            code = await websocket_close_code(app, concrete(path))
            assert code == 4401, f"{path}: closed with {code}"

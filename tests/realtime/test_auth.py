"""Authenticating a socket (API.md §8): query token, cookie with an allowed Origin, or a first
``auth`` message; renewal, expiry, revocation and the per-user cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from taskapi.auth.tokens import TokenIssuer
from tests.fixtures.factories import UserSession, register_user
from tests.realtime.conftest import (
    TIMEOUT,
    InProcessServer,
    closed_with,
    inprocess_server,
    open_socket,
    quiet,
    receive,
    wait_until,
    ws_url,
)


def session_of(user: UserSession) -> str:
    sid: str = jwt.decode(user.access_token, options={"verify_signature": False})["sid"]
    return sid


def signed(server: InProcessServer, user: UserSession, **claims: Any) -> str:
    issuer: TokenIssuer = server.app.state.token_issuer
    now = int(time.time())
    body = {
        "sub": user.id,
        "sid": session_of(user),
        "iat": now,
        "exp": now + 600,
        "jti": "x",
        "iss": "taskapi",
        "aud": "taskapi",
        "typ": "access",
        **claims,
    }
    return issuer.sign(body)


async def rejected(server: InProcessServer, **kwargs: Any) -> int | None:
    """The close code of a socket opened with ``kwargs`` (which must not authenticate)."""
    async with connect(ws_url(server, **kwargs.pop("query", {})), **kwargs) as ws:
        return await closed_with(ws)


class TestQueryToken:
    async def test_valid_token_gets_ready_with_user_and_cursor(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        async with connect(ws_url(ws_server, token=alice.access_token)) as ws:
            ready = await receive(ws)
        assert ready["type"] == "ready"
        assert ready["user_id"] == alice.id
        assert isinstance(ready["cursor"], str)

    async def test_ready_cursor_is_accepted_by_sync(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        async with connect(ws_url(ws_server, token=alice.access_token)) as ws:
            cursor = (await receive(ws))["cursor"]
        response = await api.get("/api/v1/sync", params={"cursor": cursor}, headers=alice.headers)
        assert response.status_code == 200, response.text

    async def test_garbage_token_closes_4401(self, ws_server: InProcessServer) -> None:
        assert await rejected(ws_server, query={"token": "not-a-jwt"}) == 4401

    async def test_expired_token_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        token = signed(ws_server, alice, exp=int(time.time()) - 5)
        assert await rejected(ws_server, query={"token": token}) == 4401

    async def test_refresh_token_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        assert await rejected(ws_server, query={"token": alice.refresh_token}) == 4401

    async def test_token_of_another_type_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        token = signed(ws_server, alice, typ="refresh")
        assert await rejected(ws_server, query={"token": token}) == 4401

    async def test_token_of_an_ended_session_closes_4401(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        await api.post("/api/v1/auth/logout", json={"refresh_token": alice.refresh_token})
        assert await rejected(ws_server, query={"token": alice.access_token}) == 4401


class TestCookie:
    async def test_own_origin_authenticates(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        async with connect(
            ws_url(ws_server),
            origin=ws_server.base_url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"access_token={alice.access_token}"},
        ) as ws:
            assert (await receive(ws))["type"] == "ready"

    async def test_configured_cors_origin_authenticates(
        self, database_url: str, tmp_path: Path, alice: UserSession
    ) -> None:
        with inprocess_server(
            database_url, tmp_path, cors_origins=["https://app.example"]
        ) as server:
            async with connect(
                ws_url(server),
                origin="https://app.example",  # type: ignore[arg-type]
                additional_headers={"Cookie": f"access_token={alice.access_token}"},
            ) as ws:
                assert (await receive(ws))["type"] == "ready"

    async def test_foreign_origin_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        code = await rejected(
            ws_server,
            origin="https://evil.example",
            additional_headers={"Cookie": f"access_token={alice.access_token}"},
        )
        assert code == 4401


class TestAuthMessage:
    async def test_first_message_authenticates(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        async with connect(ws_url(ws_server)) as ws:
            await ws.send(f'{{"type":"auth","token":"{alice.access_token}"}}')
            ready = await receive(ws)
        assert ready == {"type": "ready", "user_id": alice.id, "cursor": ready["cursor"]}

    async def test_no_token_closes_4401_after_the_auth_timeout(
        self, ws_server: InProcessServer
    ) -> None:
        assert await rejected(ws_server) == 4401

    async def test_auth_after_the_timeout_is_too_late(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        async with connect(ws_url(ws_server)) as ws:
            await asyncio.sleep(ws_server.app.state.settings.ws_auth_timeout + 0.5)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(f'{{"type":"auth","token":"{alice.access_token}"}}')
            assert await closed_with(ws) == 4401

    async def test_other_first_message_closes_4401(self, ws_server: InProcessServer) -> None:
        async with connect(ws_url(ws_server)) as ws:
            await ws.send('{"type":"ping"}')
            assert await closed_with(ws) == 4401

    async def test_garbage_token_in_message_closes_4401(self, ws_server: InProcessServer) -> None:
        async with connect(ws_url(ws_server)) as ws:
            await ws.send('{"type":"auth","token":"garbage"}')
            assert await closed_with(ws) == 4401


class TestRenewal:
    async def test_new_token_outlives_the_first(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        short = signed(ws_server, alice, exp=int(time.time()) + 2)
        ws = await open_socket(ws_server, token=short)
        await ws.send(f'{{"type":"auth","token":"{alice.access_token}"}}')
        await quiet(ws, 3)
        await ws.send('{"type":"ping"}')
        assert await receive(ws) == {"type": "pong"}
        await ws.close()

    async def test_expiry_without_renewal_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        short = signed(ws_server, alice, exp=int(time.time()) + 1)
        ws = await open_socket(ws_server, token=short)
        assert await closed_with(ws) == 4401

    async def test_another_users_token_closes_4401(
        self, ws_server: InProcessServer, alice: UserSession, bob: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        await ws.send(f'{{"type":"auth","token":"{bob.access_token}"}}')
        assert await closed_with(ws) == 4401


class TestRevocation:
    async def test_logout_closes_that_sessions_sockets_4401(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        response = await api.post(
            "/api/v1/auth/logout", json={"refresh_token": alice.refresh_token}
        )
        assert response.status_code == 204
        assert await closed_with(ws) == 4401

    async def test_password_change_closes_the_other_sessions_4401(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        login = await api.post(
            "/api/v1/auth/login", json={"email": alice.email, "password": alice.password}
        )
        other_session = login.json()["access_token"]
        ws = await open_socket(ws_server, token=alice.access_token)
        kept = await open_socket(ws_server, token=other_session)
        response = await api.post(
            "/api/v1/users/me/password",
            json={"current_password": alice.password, "new_password": "another long secret"},
            headers={"Authorization": f"Bearer {other_session}"},
        )
        assert response.status_code == 200, response.text
        assert await closed_with(ws) == 4401
        await kept.send('{"type":"ping"}')
        assert await receive(kept) == {"type": "pong"}
        await kept.close()

    async def test_account_deletion_closes_every_socket_4401(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        response = await api.request(
            "DELETE", "/api/v1/users/me", json={"password": alice.password}, headers=alice.headers
        )
        assert response.status_code == 204, response.text
        assert await closed_with(ws) == 4401


class TestPerUserCap:
    async def test_oldest_socket_closes_4429_past_the_cap(
        self, ws_server: InProcessServer, api: httpx.AsyncClient
    ) -> None:
        user = await register_user(api)
        cap = ws_server.app.state.settings.ws_max_per_user
        sockets = [await open_socket(ws_server, token=user.access_token) for _ in range(cap)]
        newest = await open_socket(ws_server, token=user.access_token)
        assert await closed_with(sockets[0]) == 4429
        for ws in [*sockets[1:], newest]:
            await ws.send('{"type":"ping"}')
            assert await receive(ws) == {"type": "pong"}
            await ws.close()
        await wait_until(lambda: ws_server.call(lambda: user.id not in _users(ws_server)))


def _users(server: InProcessServer) -> set[str]:
    return {str(user_id) for user_id in server.app.state.realtime_hub.by_user}


__all__ = ["TIMEOUT"]

"""``POST /api/v1/auth/logout``: public, always 204, revokes the family (API.md §2)."""

from __future__ import annotations

import time

import httpx
import jwt
from fastapi import FastAPI

from tests.fixtures.factories import UserSession

LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


class TestLogout:
    async def test_by_refresh_token_revokes_the_family(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(LOGOUT, json={"refresh_token": user.refresh_token})
        assert response.status_code == 204
        assert (await client.get(ME, headers=user.headers)).status_code == 401
        refresh = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert refresh.status_code == 401

    async def test_by_access_token_revokes_the_family(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(LOGOUT, headers=user.headers)
        assert response.status_code == 204
        assert (await client.get(ME, headers=user.headers)).status_code == 401
        refresh = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert refresh.status_code == 401

    async def test_leaves_other_sessions_alone(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        other = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        await client.post(LOGOUT, json={"refresh_token": user.refresh_token})
        other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
        assert (await client.get(ME, headers=other_headers)).status_code == 200

    async def test_unknown_token_is_204(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LOGOUT, json={"refresh_token": "no-such-token"})
        assert response.status_code == 204

    async def test_without_anything_is_204(self, client: httpx.AsyncClient) -> None:
        assert (await client.post(LOGOUT)).status_code == 204

    async def test_expired_access_token_is_204(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        claims = jwt.decode(user.access_token, options={"verify_signature": False})
        claims["exp"] = int(time.time()) - 60
        expired = app.state.token_issuer.sign(claims)
        response = await client.post(LOGOUT, headers={"Authorization": f"Bearer {expired}"})
        assert response.status_code == 204
        # its family ends too: the refresh token that came with it no longer works
        refresh = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert refresh.status_code == 401

    async def test_foreign_access_token_revokes_nothing(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        claims = jwt.decode(user.access_token, options={"verify_signature": False})
        forged = jwt.encode(claims, "not-the-server-key-" * 3, algorithm="HS256")
        response = await client.post(LOGOUT, headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 204
        assert (await client.get(ME, headers=user.headers)).status_code == 200

    async def test_garbage_access_token_is_204(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LOGOUT, headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 204

    async def test_twice_is_204(self, client: httpx.AsyncClient, user: UserSession) -> None:
        for _ in range(2):
            response = await client.post(LOGOUT, json={"refresh_token": user.refresh_token})
            assert response.status_code == 204

    async def test_clears_the_cookies(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.post(LOGOUT, json={"refresh_token": user.refresh_token})
        cleared = {
            header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")
        }
        assert set(cleared) == {"access_token", "refresh_token", "csrf_token"}
        assert all("Max-Age=0" in header for header in cleared.values())
        assert "Path=/api/v1/auth" in cleared["refresh_token"]

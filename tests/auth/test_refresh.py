"""``POST /api/v1/auth/refresh``: rotation, and reuse that revokes the family (API.md §2)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from taskapi.auth.tokens import hash_refresh_token
from tests.fixtures.factories import UserSession
from tests.fixtures.sql import execute

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["type"] == "/problems/unauthenticated"


class TestRefresh:
    async def test_rotates_into_a_new_pair(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["refresh_token"] != user.refresh_token
        assert body["access_token"] != user.access_token
        assert body["user"]["id"] == user.id
        assert (await client.get(ME, headers=bearer(body["access_token"]))).status_code == 200
        # the new refresh token rotates again
        again = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
        assert again.status_code == 200

    async def test_keeps_the_session(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert response.status_code == 200
        # the old access token of the same family still works until it expires
        assert (await client.get(ME, headers=user.headers)).status_code == 200

    async def test_reuse_revokes_the_family(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert first.status_code == 200
        issued = first.json()

        reuse = await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert_unauthenticated(reuse)
        cleared = reuse.headers.get_list("set-cookie")
        assert any(h.startswith("refresh_token=") and "Max-Age=0" in h for h in cleared)

        # the pair issued by the first use is dead too, and every access token of the family
        assert_unauthenticated(
            await client.post(REFRESH, json={"refresh_token": issued["refresh_token"]})
        )
        assert_unauthenticated(await client.get(ME, headers=bearer(issued["access_token"])))
        assert_unauthenticated(await client.get(ME, headers=user.headers))

    async def test_concurrent_uses_have_one_winner_and_count_as_reuse(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first, second = await asyncio.gather(
            client.post(REFRESH, json={"refresh_token": user.refresh_token}),
            client.post(REFRESH, json={"refresh_token": user.refresh_token}),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 401]
        winner = first if first.status_code == 200 else second
        # the loser presented a spent token: the family, the winner's pair included, is revoked
        assert_unauthenticated(await client.get(ME, headers=bearer(winner.json()["access_token"])))

    async def test_reuse_leaves_other_sessions_alone(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        other = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        assert (
            await client.get(ME, headers=bearer(other.json()["access_token"]))
        ).status_code == 200

    async def test_unknown_token(self, client: httpx.AsyncClient) -> None:
        assert_unauthenticated(await client.post(REFRESH, json={"refresh_token": "nope"}))

    async def test_no_token(self, client: httpx.AsyncClient) -> None:
        assert_unauthenticated(await client.post(REFRESH, json={}))
        assert_unauthenticated(await client.post(REFRESH))

    async def test_access_token_is_no_refresh_token(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        assert_unauthenticated(
            await client.post(REFRESH, json={"refresh_token": user.access_token})
        )

    async def test_expired_token(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        await execute(
            database_url,
            "UPDATE refresh_tokens SET expires_at = $2 WHERE token_hash = $1",
            hash_refresh_token(user.refresh_token),
            datetime.now(UTC) - timedelta(seconds=1),
        )
        assert_unauthenticated(
            await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        )

    async def test_deactivated_user(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        await execute(
            database_url, "UPDATE users SET deleted_at = now() WHERE id = $1", uuid.UUID(user.id)
        )
        assert_unauthenticated(
            await client.post(REFRESH, json={"refresh_token": user.refresh_token})
        )

    async def test_unknown_field_is_validation(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            REFRESH, json={"refresh_token": user.refresh_token, "extra": 1}
        )
        assert response.status_code == 422

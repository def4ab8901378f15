"""``POST /api/v1/auth/login`` (API.md §2)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type

from taskapi.auth import passwords
from tests.fixtures.factories import UserSession, unique_email
from tests.fixtures.sql import execute, fetchval

LOGIN = "/api/v1/auth/login"


class TestLogin:
    async def test_returns_a_token_pair_and_the_user(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(LOGIN, json={"email": user.email, "password": user.password})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_expires_in",
            "user",
        }
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert body["refresh_expires_in"] == 2_592_000
        assert body["user"] == {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "created_at": body["user"]["created_at"],
        }
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200

    async def test_refresh_token_is_long_and_stored_only_hashed(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        assert len(user.refresh_token) >= 22  # ≥ 128 bits in URL-safe base64
        stored = await fetchval(
            database_url,
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND token_hash = $2",
            uuid.UUID(user.id),
            user.refresh_token.encode(),
        )
        assert stored == 0

    async def test_wrong_password_and_unknown_email_answer_alike(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        wrong = await client.post(LOGIN, json={"email": user.email, "password": "wrong-password"})
        unknown = await client.post(
            LOGIN, json={"email": unique_email(), "password": "wrong-password"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["type"] == unknown.json()["type"] == "/problems/unauthenticated"
        assert wrong.json()["detail"] == unknown.json()["detail"]

    async def test_unknown_email_verifies_a_dummy_hash(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        verified: list[str] = []
        real_verify = passwords.verify_password

        async def spy(password_hash: str, password: str) -> bool:
            verified.append(password_hash)
            return await real_verify(password_hash, password)

        monkeypatch.setattr(passwords, "verify_password", spy)
        response = await client.post(
            LOGIN, json={"email": unique_email(), "password": "wrong-password"}
        )
        assert response.status_code == 401
        assert verified == [passwords.dummy_hash()]

    async def test_deleted_account_cannot_log_in(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        await execute(
            database_url, "UPDATE users SET deleted_at = now() WHERE id = $1", uuid.UUID(user.id)
        )
        response = await client.post(LOGIN, json={"email": user.email, "password": user.password})
        assert response.status_code == 401

    async def test_rehashes_when_parameters_change(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
        old_hash = weaker.hash(user.password)
        await execute(
            database_url,
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            uuid.UUID(user.id),
            old_hash,
        )
        response = await client.post(LOGIN, json={"email": user.email, "password": user.password})
        assert response.status_code == 200
        new_hash = await fetchval(
            database_url, "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user.id)
        )
        assert new_hash != old_hash
        assert not passwords.needs_rehash(new_hash)
        again = await client.post(LOGIN, json={"email": user.email, "password": user.password})
        assert again.status_code == 200

    async def test_current_hash_is_kept(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        before = await fetchval(
            database_url, "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user.id)
        )
        await client.post(LOGIN, json={"email": user.email, "password": user.password})
        after = await fetchval(
            database_url, "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user.id)
        )
        assert before == after

    @pytest.mark.parametrize(
        "body",
        [{}, {"email": "a@example.com"}, {"password": "x"}, {"email": 1, "password": 2}],
        ids=repr,
    )
    async def test_incomplete_body_is_validation(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        response = await client.post(LOGIN, json=body)
        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation"

"""``/api/v1/users/me``: profile, password change and account deactivation (API.md §2)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user
from tests.fixtures.sql import execute, fetchval

ME = "/api/v1/users/me"
PASSWORD = "/api/v1/users/me/password"
LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "a brand new password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def share_inbox_like_project(
    database_url: str, *, owner: UserSession, member: UserSession
) -> uuid.UUID:
    """A project of ``owner`` with ``member`` in it, made in SQL (independent of /projects)."""
    project_id = uuid.uuid4()
    await execute(
        database_url,
        "INSERT INTO projects (id, owner_id, name) VALUES ($1, $2, 'Shared')",
        project_id,
        uuid.UUID(owner.id),
    )
    await execute(
        database_url,
        "INSERT INTO project_members (project_id, user_id, role)"
        " VALUES ($1, $2, 'owner'), ($1, $3, 'editor')",
        project_id,
        uuid.UUID(owner.id),
        uuid.UUID(member.id),
    )
    return project_id


class TestGetMe:
    async def test_returns_the_profile(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.get(ME, headers=user.headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"id", "email", "display_name", "created_at"}
        assert body["id"] == user.id
        assert body["email"] == user.email

    async def test_without_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(ME)
        assert response.status_code == 401
        assert response.json()["type"] == "/problems/unauthenticated"


class TestPatchMe:
    async def test_changes_the_display_name(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.patch(ME, json={"display_name": "  Zoë  "}, headers=user.headers)
        assert response.status_code == 200
        assert response.json()["display_name"] == "Zoë"
        assert (await client.get(ME, headers=user.headers)).json()["display_name"] == "Zoë"

    @pytest.mark.parametrize(
        "body",
        [{"display_name": ""}, {"display_name": "x" * 101}, {"display_name": "a\x00b"}, {}],
        ids=["empty", "too-long", "nul", "missing"],
    )
    async def test_invalid_display_name(
        self, client: httpx.AsyncClient, user: UserSession, body: dict[str, str]
    ) -> None:
        response = await client.patch(ME, json=body, headers=user.headers)
        assert response.status_code == 422
        assert ["body", "display_name"] in [e["loc"] for e in response.json()["errors"]]

    @pytest.mark.parametrize("field", ["email", "id", "created_at", "password"])
    async def test_other_fields_are_refused(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        response = await client.patch(
            ME, json={"display_name": "N", field: "x@example.com"}, headers=user.headers
        )
        assert response.status_code == 422
        assert (await client.get(ME, headers=user.headers)).json()["email"] == user.email


class TestChangePassword:
    async def test_returns_a_new_pair_and_the_new_password_works(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            PASSWORD,
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        assert response.status_code == 200
        pair = response.json()
        assert pair["token_type"] == "bearer"
        assert pair["refresh_token"] != user.refresh_token
        assert (await client.get(ME, headers=bearer(pair["access_token"]))).status_code == 200
        assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200
        assert (await login(client, user.email, user.password)).status_code == 401
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 200

    async def test_other_sessions_are_revoked(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        other = (await login(client, user.email, user.password)).json()
        response = await client.post(
            PASSWORD,
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        assert response.status_code == 200
        assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 401
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert refresh.status_code == 401
        # this session's old refresh token is spent: the new pair replaces it
        old = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert old.status_code == 401

    async def test_wrong_current_password(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            PASSWORD,
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        assert response.status_code == 422
        body = response.json()
        assert body["type"] == "/problems/validation"
        assert [e["loc"] for e in body["errors"]] == [["body", "current_password"]]
        assert (await login(client, user.email, user.password)).status_code == 200

    @pytest.mark.parametrize("new_password", ["x" * 7, "x" * 129, "nul\x00byte-password"])
    async def test_invalid_new_password(
        self, client: httpx.AsyncClient, user: UserSession, new_password: str
    ) -> None:
        response = await client.post(
            PASSWORD,
            json={"current_password": user.password, "new_password": new_password},
            headers=user.headers,
        )
        assert response.status_code == 422
        assert ["body", "new_password"] in [e["loc"] for e in response.json()["errors"]]


class TestDeleteMe:
    async def test_deactivates_the_account(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        response = await client.request(
            "DELETE", ME, json={"password": user.password}, headers=user.headers
        )
        assert response.status_code == 204
        assert (await client.get(ME, headers=user.headers)).status_code == 401
        assert (await login(client, user.email, user.password)).status_code == 401
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
        )
        assert refresh.status_code == 401
        live_inboxes = await fetchval(
            database_url,
            "SELECT count(*) FROM projects WHERE owner_id = $1 AND deleted_at IS NULL",
            uuid.UUID(user.id),
        )
        assert live_inboxes == 0

    async def test_the_email_can_register_again(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await client.request("DELETE", ME, json={"password": user.password}, headers=user.headers)
        again = await register_user(client, email=user.email.upper(), password="another pass")
        assert again.id != user.id
        assert (await client.get(ME, headers=again.headers)).status_code == 200

    async def test_wrong_password(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.request(
            "DELETE", ME, json={"password": "not my password"}, headers=user.headers
        )
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "password"]]
        assert (await client.get(ME, headers=user.headers)).status_code == 200

    async def test_missing_password(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.request("DELETE", ME, headers=user.headers)
        assert response.status_code == 422

    async def test_conflict_while_owning_a_shared_project(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        database_url: str,
    ) -> None:
        await share_inbox_like_project(database_url, owner=user, member=other_user)
        response = await client.request(
            "DELETE", ME, json={"password": user.password}, headers=user.headers
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"
        assert (await client.get(ME, headers=user.headers)).status_code == 200

    async def test_membership_in_others_project_does_not_block(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        database_url: str,
    ) -> None:
        await share_inbox_like_project(database_url, owner=other_user, member=user)
        response = await client.request(
            "DELETE", ME, json={"password": user.password}, headers=user.headers
        )
        assert response.status_code == 204

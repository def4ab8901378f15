"""``POST /api/v1/auth/register`` (API.md §2)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.factories import unique_email
from tests.fixtures.sql import fetch

REGISTER = "/api/v1/auth/register"


class TestRegister:
    async def test_creates_user_without_hash(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        response = await client.post(
            REGISTER, json={"email": email, "password": "password123", "display_name": "Ann"}
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "email", "display_name", "created_at"}
        assert body["email"] == email
        assert body["display_name"] == "Ann"
        assert body["created_at"].endswith("Z")

    async def test_creates_the_inbox(self, client: httpx.AsyncClient, database_url: str) -> None:
        response = await client.post(
            REGISTER, json={"email": unique_email(), "password": "password123"}
        )
        user_id = uuid.UUID(response.json()["id"])
        rows = await fetch(
            database_url,
            "SELECT p.name, p.is_inbox, m.role FROM projects p"
            " JOIN project_members m ON m.project_id = p.id AND m.user_id = p.owner_id"
            " WHERE p.owner_id = $1 AND p.deleted_at IS NULL",
            user_id,
        )
        assert [tuple(row) for row in rows] == [("Inbox", True, "owner")]

    async def test_stores_an_argon2id_hash(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        response = await client.post(
            REGISTER, json={"email": unique_email(), "password": "password123"}
        )
        rows = await fetch(
            database_url,
            "SELECT password_hash FROM users WHERE id = $1",
            uuid.UUID(response.json()["id"]),
        )
        stored = rows[0]["password_hash"]
        assert stored.startswith("$argon2id$")
        assert "password123" not in stored

    async def test_display_name_defaults_to_the_email_local_part(
        self, client: httpx.AsyncClient
    ) -> None:
        email = unique_email("bob")
        response = await client.post(REGISTER, json={"email": email, "password": "password123"})
        assert response.json()["display_name"] == email.split("@")[0]

    async def test_email_in_other_case_is_the_same_account(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        first = await client.post(
            REGISTER, json={"email": email.upper(), "password": "password123"}
        )
        assert first.status_code == 201
        second = await client.post(
            REGISTER, json={"email": email.lower(), "password": "password123"}
        )
        assert second.status_code == 409
        assert second.json()["type"] == "/problems/email-taken"
        assert second.headers["content-type"] == "application/problem+json"

    async def test_login_in_other_case_finds_the_account(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        await client.post(REGISTER, json={"email": email.upper(), "password": "password123"})
        login = await client.post(
            "/api/v1/auth/login", json={"email": email.lower(), "password": "password123"}
        )
        assert login.status_code == 200

    @pytest.mark.parametrize(
        "password",
        ["x" * 8, "x" * 128, "пароль-ünï", "🔑🔑🔑🔑🔑🔑🔑🔑", "🔑" * 128],
        ids=["8", "128", "non-ascii", "emoji", "128-emoji"],
    )
    async def test_accepted_password(self, client: httpx.AsyncClient, password: str) -> None:
        email = unique_email()
        response = await client.post(REGISTER, json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200

    @pytest.mark.parametrize(
        "password",
        ["x" * 7, "x" * 129, "password\x00123", "\x00" * 10, "", "🔑" * 7],
        ids=["7", "129", "nul-inside", "only-nul", "empty", "7-emoji"],
    )
    async def test_refused_password(self, client: httpx.AsyncClient, password: str) -> None:
        response = await client.post(REGISTER, json={"email": unique_email(), "password": password})
        assert response.status_code == 422
        body = response.json()
        assert body["type"] == "/problems/validation"
        assert ["body", "password"] in [error["loc"] for error in body["errors"]]

    @pytest.mark.parametrize(
        "email",
        [
            "plainaddress",
            "@example.com",
            "user@",
            "user@example",
            "user @example.com",
            "user@@example.com",
            "user@exa mple.com",
            "user\x00@example.com",
            "",
            "a" * 250 + "@example.com",
        ],
        ids=repr,
    )
    async def test_refused_email(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.post(REGISTER, json={"email": email, "password": "password123"})
        assert response.status_code == 422
        assert ["body", "email"] in [error["loc"] for error in response.json()["errors"]]

    @pytest.mark.parametrize("missing", ["email", "password"])
    async def test_missing_field(self, client: httpx.AsyncClient, missing: str) -> None:
        body = {"email": unique_email(), "password": "password123"}
        del body[missing]
        response = await client.post(REGISTER, json=body)
        assert response.status_code == 422
        assert ["body", missing] in [error["loc"] for error in response.json()["errors"]]

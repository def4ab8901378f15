from __future__ import annotations

import httpx

from tests.fixtures.factories import unique_email


class TestRegister:
    async def test_creates_user_without_hash(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "password123", "display_name": "Ann"},
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "email", "display_name", "created_at"}
        assert body["email"] == email
        assert body["display_name"] == "Ann"
        assert body["created_at"].endswith("Z")

    async def test_email_in_other_case_is_the_same_account(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        first = await client.post(
            "/api/v1/auth/register", json={"email": email.upper(), "password": "password123"}
        )
        assert first.status_code == 201
        second = await client.post(
            "/api/v1/auth/register", json={"email": email.lower(), "password": "password123"}
        )
        assert second.status_code == 409
        assert second.json()["type"] == "/problems/email-taken"
        assert second.headers["content-type"] == "application/problem+json"

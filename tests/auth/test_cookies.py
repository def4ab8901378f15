"""Cookie authentication for the web client, with the double-submit CSRF check (API.md §1)."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user

ME = "/api/v1/users/me"


async def cookie_login(client: httpx.AsyncClient, user: UserSession) -> httpx.Response:
    """Logs in so the client holds the cookies; returns the login response."""
    response = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200
    return response


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {
        header.split("=", 1)[0]: header.lower()
        for header in response.headers.get_list("set-cookie")
    }


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["csrf_token"]}


def assert_csrf_failed(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/csrf-failed"


class TestLoginCookies:
    async def test_sets_the_three_cookies(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cookies = set_cookies(await cookie_login(client, user))
        access, refresh, token = (
            cookies["access_token"],
            cookies["refresh_token"],
            cookies["csrf_token"],
        )
        assert "httponly" in access
        assert "samesite=strict" in access
        assert "path=/;" in access or access.endswith("path=/")
        assert "max-age=900" in access
        assert "httponly" in refresh
        assert "samesite=strict" in refresh
        assert "path=/api/v1/auth" in refresh
        assert "max-age=2592000" in refresh
        assert "httponly" not in token
        assert "max-age=2592000" in token
        # development mode on loopback: not Secure, so the browser keeps them over http
        assert all("secure" not in header for header in cookies.values())

    async def test_refresh_sets_new_cookies(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        old_access = client.cookies["access_token"]
        response = await client.post("/api/v1/auth/refresh", headers=csrf(client))
        assert response.status_code == 200
        assert set(set_cookies(response)) == {"access_token", "refresh_token", "csrf_token"}
        assert client.cookies["access_token"] != old_access


class TestCookieAuthentication:
    async def test_get_with_only_cookies_works(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        response = await client.get(ME)
        assert response.status_code == 200
        assert response.json()["id"] == user.id

    @pytest.mark.parametrize("header", [None, "wrong", ""], ids=["missing", "wrong", "empty"])
    async def test_unsafe_without_the_right_csrf_header_is_refused(
        self, client: httpx.AsyncClient, user: UserSession, header: str | None
    ) -> None:
        await cookie_login(client, user)
        headers = {} if header is None else {"X-CSRF-Token": header}
        assert_csrf_failed(await client.patch(ME, json={"display_name": "X"}, headers=headers))
        assert_csrf_failed(
            await client.post(
                "/api/v1/users/me/password",
                json={"current_password": user.password, "new_password": "new-password-1"},
                headers=headers,
            )
        )
        assert_csrf_failed(
            await client.request("DELETE", ME, json={"password": user.password}, headers=headers)
        )
        # nothing happened
        me = await client.get(ME)
        assert me.status_code == 200
        assert me.json()["display_name"] == user.display_name

    async def test_csrf_header_of_another_session_is_refused(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        foreign = client.cookies["csrf_token"]
        await cookie_login(client, user)  # a new csrf cookie
        assert client.cookies["csrf_token"] != foreign
        response = await client.patch(
            ME, json={"display_name": "X"}, headers={"X-CSRF-Token": foreign}
        )
        assert_csrf_failed(response)

    async def test_unsafe_with_the_right_csrf_header_works(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        response = await client.patch(ME, json={"display_name": "Cookie"}, headers=csrf(client))
        assert response.status_code == 200
        assert response.json()["display_name"] == "Cookie"

    async def test_bearer_needs_no_csrf(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.patch(ME, json={"display_name": "Bearer"}, headers=user.headers)
        assert response.status_code == 200

    async def test_bearer_wins_over_cookies(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        other = await register_user(client)
        await cookie_login(client, user)
        response = await client.get(ME, headers=other.headers)
        assert response.json()["id"] == other.id


class TestRefreshByCookie:
    async def test_needs_the_csrf_header(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        assert_csrf_failed(await client.post("/api/v1/auth/refresh"))
        assert_csrf_failed(
            await client.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": "wrong"})
        )

    async def test_with_the_csrf_header_rotates(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        response = await client.post("/api/v1/auth/refresh", headers=csrf(client))
        assert response.status_code == 200
        assert (await client.get(ME)).status_code == 200


class TestLogoutByCookie:
    async def test_needs_the_csrf_header(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await cookie_login(client, user)
        assert_csrf_failed(await client.post("/api/v1/auth/logout"))
        assert (await client.get(ME)).status_code == 200  # still logged in

    async def test_with_the_csrf_header_ends_the_session(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        login = await cookie_login(client, user)
        access = login.json()["access_token"]
        response = await client.post("/api/v1/auth/logout", headers=csrf(client))
        assert response.status_code == 204
        assert "access_token" not in client.cookies
        assert "refresh_token" not in client.cookies
        revoked = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert revoked.status_code == 401

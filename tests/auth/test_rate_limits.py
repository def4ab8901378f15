"""Rate limits (API.md §1): per user, per client IP on the auth endpoints, failed logins per
account. With ``REDIS_URL`` set these run against the Redis store; every key is unique per run."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx

from tests.conftest import make_settings
from tests.fixtures.apps import app_client
from tests.fixtures.factories import register_user, unique_email

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def assert_rate_limited(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(response.headers["retry-after"]) <= window


async def away_from_window_edge(window: int, margin: float = 10.0) -> None:
    """Windows are aligned to the clock: start a test well inside one, so it cannot roll over."""
    left = window - time.time() % window
    if left < margin:
        await asyncio.sleep(left + 0.1)


class TestPerUserLimit:
    async def test_the_101st_request_in_a_minute_is_refused(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(database_url, tmp_path, rate_limit="100/minute")
        async with app_client(settings) as (_, http):
            user = await register_user(http)
            await away_from_window_edge(60)
            statuses = [(await http.get(ME, headers=user.headers)).status_code for _ in range(100)]
            assert statuses == [200] * 100
            refused = await http.get(ME, headers=user.headers)
            assert_rate_limited(refused, 60)
            assert refused.headers["ratelimit-limit"] == "100"
            assert refused.headers["ratelimit-remaining"] == "0"
            assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
            # another user is not affected
            other = await register_user(http)
            assert (await http.get(ME, headers=other.headers)).status_code == 200

    async def test_remaining_counts_down(self, database_url: str, tmp_path: Path) -> None:
        settings = make_settings(database_url, tmp_path, rate_limit="5/hour")
        async with app_client(settings) as (_, http):
            user = await register_user(http)
            await away_from_window_edge(3600)
            remaining = [
                int((await http.get(ME, headers=user.headers)).headers["ratelimit-remaining"])
                for _ in range(5)
            ]
            assert remaining == [4, 3, 2, 1, 0]
            refused = await http.get(ME, headers=user.headers)
            assert_rate_limited(refused, 3600)
            assert refused.headers["ratelimit-limit"] == "5"
            assert 1 <= int(refused.headers["ratelimit-reset"]) <= 3600

    async def test_every_authenticated_response_carries_the_headers(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(database_url, tmp_path, rate_limit="100/minute")
        async with app_client(settings) as (_, http):
            user = await register_user(http)
            for response in (
                await http.get(ME, headers=user.headers),
                await http.patch(ME, json={"display_name": "N"}, headers=user.headers),
                await http.patch(ME, json={"display_name": ""}, headers=user.headers),  # 422
            ):
                assert response.headers["ratelimit-limit"] == "100"
                assert 0 <= int(response.headers["ratelimit-remaining"]) < 100
                assert 1 <= int(response.headers["ratelimit-reset"]) <= 60


class TestPerIpLimit:
    async def test_fourth_auth_request_from_one_ip_is_refused(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(database_url, tmp_path, auth_rate_limit="3/hour")
        ip = random_ip()
        await away_from_window_edge(3600)
        async with app_client(settings, client_ip=ip) as (_, http):
            for _ in range(3):
                response = await http.post(LOGIN, json={"email": unique_email(), "password": "x"})
                assert response.status_code == 401
            assert_rate_limited(
                await http.post(LOGIN, json={"email": unique_email(), "password": "x"}), 3600
            )
            assert_rate_limited(
                await http.post(
                    "/api/v1/auth/register",
                    json={"email": unique_email(), "password": "password123"},
                ),
                3600,
            )
        # another address is not affected
        async with app_client(settings, client_ip=random_ip()) as (_, http):
            response = await http.post(LOGIN, json={"email": unique_email(), "password": "x"})
            assert response.status_code == 401


class TestFailedLoginLimit:
    async def test_account_is_throttled_while_another_logs_in(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(database_url, tmp_path, login_failure_limit="2/15minutes")
        await away_from_window_edge(15 * 60)
        async with app_client(settings) as (_, http):
            victim = await register_user(http)
            bystander = await register_user(http)
            for _ in range(2):
                wrong = await http.post(LOGIN, json={"email": victim.email, "password": "wrong!!!"})
                assert wrong.status_code == 401
            # even the right password waits now, and the email's case does not matter
            assert_rate_limited(
                await http.post(LOGIN, json={"email": victim.email, "password": victim.password}),
                15 * 60,
            )
            assert_rate_limited(
                await http.post(
                    LOGIN, json={"email": victim.email.upper(), "password": victim.password}
                ),
                15 * 60,
            )
            ok = await http.post(
                LOGIN, json={"email": bystander.email, "password": bystander.password}
            )
            assert ok.status_code == 200

    async def test_successful_logins_do_not_count(self, database_url: str, tmp_path: Path) -> None:
        settings = make_settings(database_url, tmp_path, login_failure_limit="2/15minutes")
        async with app_client(settings) as (_, http):
            user = await register_user(http)
            for _ in range(4):
                response = await http.post(
                    LOGIN, json={"email": user.email, "password": user.password}
                )
                assert response.status_code == 200


class TestStoreOutage:
    async def test_unreachable_redis_is_unavailable_not_500(
        self, database_url: str, tmp_path: Path, client: httpx.AsyncClient
    ) -> None:
        user = await register_user(client)
        settings = make_settings(database_url, tmp_path, redis_url="redis://127.0.0.1:1/0")
        async with app_client(settings) as (_, http):
            assert (await http.get("/health")).status_code == 200
            for response in (
                await http.get(ME, headers=user.headers),
                await http.post(LOGIN, json={"email": user.email, "password": user.password}),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["type"] == "/problems/unavailable"
                assert response.headers["retry-after"]

"""Access tokens: only a valid, unexpired, pinned-algorithm access JWT of ours authenticates."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from taskapi.config import Settings
from tests.conftest import make_settings
from tests.fixtures.apps import app_client
from tests.fixtures.factories import UserSession, register_user

ME = "/api/v1/users/me"


def claims_of(user: UserSession, **changes: Any) -> dict[str, Any]:
    """The claims of ``user``'s access token, changed; ``None`` removes a claim."""
    claims: dict[str, Any] = jwt.decode(user.access_token, options={"verify_signature": False})
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def me_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ME, headers={"Authorization": f"Bearer {token}"})


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["type"] == "/problems/unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


class TestAccessToken:
    async def test_own_claims_resigned_work(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        # the baseline for the forgeries below: the same claims, signed by the server, pass
        token = app.state.token_issuer.sign(claims_of(user))
        assert (await me_with(client, token)).status_code == 200

    async def test_carries_the_contract_claims(self, user: UserSession) -> None:
        claims = claims_of(user)
        assert {"sub", "sid", "exp", "iat", "jti", "iss", "aud", "typ"} <= set(claims)
        assert claims["sub"] == user.id
        assert claims["typ"] == "access"
        assert claims["exp"] - claims["iat"] == 900
        assert jwt.get_unverified_header(user.access_token)["alg"] == "HS256"

    async def test_expired(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        now = int(time.time())
        token = app.state.token_issuer.sign(claims_of(user, iat=now - 1000, exp=now - 100))
        assert_unauthenticated(await me_with(client, token))

    async def test_expired_by_short_ttl(
        self, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = make_settings(database_url, tmp_path, access_token_ttl=10)
        async with app_client(settings) as (_, http):
            user = await register_user(http)
            assert (await me_with(http, user.access_token)).status_code == 200
            # a login 11 s ago issued a token that lived 10 s
            earlier = time.time() - 11
            monkeypatch.setattr(time, "time", lambda: earlier)
            login = await http.post(
                "/api/v1/auth/login", json={"email": user.email, "password": user.password}
            )
            monkeypatch.undo()
            assert login.json()["expires_in"] == 10
            assert_unauthenticated(await me_with(http, login.json()["access_token"]))

    async def test_signed_with_another_key(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        token = jwt.encode(claims_of(user), "another-key-" * 4, algorithm="HS256")
        assert_unauthenticated(await me_with(client, token))

    async def test_signed_with_the_raw_secret(
        self, client: httpx.AsyncClient, user: UserSession, settings: Settings
    ) -> None:
        token = jwt.encode(claims_of(user), settings.resolved_secret_key(), algorithm="HS256")
        assert_unauthenticated(await me_with(client, token))

    async def test_alg_none(self, client: httpx.AsyncClient, user: UserSession) -> None:
        token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(user))}."
        assert_unauthenticated(await me_with(client, token))

    async def test_other_algorithm_with_our_key(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        token = jwt.encode(claims_of(user), app.state.token_issuer._key, algorithm="HS512")
        assert_unauthenticated(await me_with(client, token))

    @pytest.mark.parametrize("typ", ["refresh", None, "ACCESS"], ids=repr)
    async def test_not_an_access_type(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession, typ: str | None
    ) -> None:
        claims = claims_of(user, typ=typ) if typ else claims_of(user, typ=None)
        token = app.state.token_issuer.sign(claims)
        assert_unauthenticated(await me_with(client, token))

    @pytest.mark.parametrize("claim", ["sub", "sid", "exp", "iss", "aud"])
    async def test_missing_claim(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession, claim: str
    ) -> None:
        token = app.state.token_issuer.sign(claims_of(user, **{claim: None}))
        assert_unauthenticated(await me_with(client, token))

    @pytest.mark.parametrize(
        ("claim", "value"),
        [("iss", "someone-else"), ("aud", "other-api"), ("sub", "not-a-uuid"), ("sid", 12)],
    )
    async def test_wrong_claim(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession, claim: str, value: Any
    ) -> None:
        token = app.state.token_issuer.sign(claims_of(user, **{claim: value}))
        assert_unauthenticated(await me_with(client, token))

    async def test_unknown_session(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        token = app.state.token_issuer.sign(claims_of(user, sid=str(uuid.uuid4())))
        assert_unauthenticated(await me_with(client, token))

    async def test_another_users_session(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        token = app.state.token_issuer.sign(claims_of(user, sub=other_user.id))
        assert_unauthenticated(await me_with(client, token))

    @pytest.mark.parametrize(
        "token", ["garbage", "a.b.c", "", "Bearer", "ey.ey.ey", "x" * 5000], ids=lambda t: t[:10]
    )
    async def test_garbage(self, client: httpx.AsyncClient, token: str) -> None:
        assert_unauthenticated(await me_with(client, token))

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer"])
    async def test_other_schemes(self, client: httpx.AsyncClient, header: str) -> None:
        assert_unauthenticated(await client.get(ME, headers={"Authorization": header}))

    async def test_the_refresh_token_is_no_access_token(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        assert_unauthenticated(await me_with(client, user.refresh_token))

    @pytest.mark.parametrize("name", ["token", "access_token"])
    async def test_not_accepted_in_the_query_string(
        self, client: httpx.AsyncClient, user: UserSession, name: str
    ) -> None:
        assert_unauthenticated(await client.get(ME, params={name: user.access_token}))

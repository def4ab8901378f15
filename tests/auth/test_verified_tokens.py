"""The per-process cache of verified access tokens changes nothing a client can observe."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI

from taskapi.auth.dependencies import VerifiedTokens
from taskapi.auth.tokens import TokenIssuer
from taskapi.errors import Unauthenticated
from tests.auth.test_tokens import assert_unauthenticated, claims_of, me_with
from tests.conftest import TEST_SECRET
from tests.fixtures.factories import UserSession


class TestVerifiedTokens:
    async def test_cached_token_still_expires(
        self, app: FastAPI, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        expires_at = int(time.time()) + 2
        token = app.state.token_issuer.sign(claims_of(user, exp=expires_at))
        assert (await me_with(client, token)).status_code == 200  # verified and cached
        while time.time() < expires_at + 0.05:
            await asyncio.sleep(0.1)
        response = await me_with(client, token)
        assert_unauthenticated(response)
        assert "expired" in response.json()["detail"]

    async def test_altered_copy_of_a_cached_token_is_refused(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        assert (await me_with(client, user.access_token)).status_code == 200
        last = user.access_token[-2]
        altered = user.access_token[:-2] + ("A" if last != "A" else "B") + user.access_token[-1]
        assert_unauthenticated(await me_with(client, altered))
        assert (await me_with(client, user.access_token)).status_code == 200

    async def test_cached_token_of_a_logged_out_session_is_refused(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        assert (await me_with(client, user.access_token)).status_code == 200
        logout = await client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": user.refresh_token},
            headers=user.headers,
        )
        assert logout.status_code == 204
        assert_unauthenticated(await me_with(client, user.access_token))

    def test_bounded_cache_keeps_verifying(self) -> None:
        issuer = TokenIssuer(TEST_SECRET, access_ttl=900)
        cache = VerifiedTokens(issuer, max_entries=2)
        users = [uuid.uuid4() for _ in range(3)]
        tokens = [issuer.access_token(user_id=u, session_id=uuid.uuid4()) for u in users]
        for _ in range(2):
            assert [cache.verify(token).user_id for token in tokens] == users

    def test_token_of_another_issuer_is_refused(self) -> None:
        ours = TokenIssuer(TEST_SECRET, access_ttl=900)
        theirs = TokenIssuer("another-secret-that-is-long-enough-0123456789", access_ttl=900)
        token = theirs.access_token(user_id=uuid.uuid4(), session_id=uuid.uuid4())
        VerifiedTokens(theirs).verify(token)
        with pytest.raises(Unauthenticated):
            VerifiedTokens(ours).verify(token)

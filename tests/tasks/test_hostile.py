"""Hostile inputs never produce a 500: NUL characters, lone surrogates, extreme instants."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.tasks.factories import API, create_task


class TestHostileInputs:
    @pytest.mark.parametrize(
        "body",
        [
            b'{"title": "\\ud800"}',
            b'{"title": "ok", "tags": ["\\udfff"]}',
            b'{"title": "ok", "description": "a\\u0000b"}',
            b'{"title": "ok", "due_at": "0001-01-01T00:00:00+14:00"}',
            b'{"title": "ok", "due_at": "9999-12-31T23:59:59-14:00"}',
            b'{"title": "ok", "due_date": "0000-01-01"}',
            b'{"title": "ok", "priority": 1e400}',
            b'{"title": "ok", "tags": "abc"}',
            b'{"title": {"nested": true}}',
        ],
    )
    async def test_create_bodies_are_422(
        self, client: httpx.AsyncClient, user: UserSession, body: bytes
    ) -> None:
        response = await client.post(
            f"{API}/tasks",
            content=body,
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), response.text

    @pytest.mark.parametrize(
        "params",
        [
            {"tag": "a\x00b"},
            {"due_after": "0001-01-01T00:00:00+14:00"},
            {"due_before": "9999-12-31T23:59:59-14:00"},
            {"cursor": "\x00"},
            {"cursor": "A" * 5000},
            {"sort": "-"},
        ],
    )
    async def test_list_queries_are_4xx(
        self, client: httpx.AsyncClient, user: UserSession, params: dict[str, str]
    ) -> None:
        await create_task(client, user=user)
        response = await client.get(f"{API}/tasks", params=params, headers=user.headers)
        assert 400 <= response.status_code < 500, response.text

    async def test_invalid_utf8_in_the_query_is_4xx(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.get(f"{API}/tasks?tag=%ff%fe&cursor=%c3", headers=user.headers)
        assert 400 <= response.status_code < 500, response.text

    async def test_patch_with_surrogates_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            content=b'{"version": 1, "title": "\\ud800"}',
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text

"""Helpers for the search tests: tasks are made through the tasks API, searched over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import UserSession

API = "/api/v1"


async def search(client: httpx.AsyncClient, *, user: UserSession, **params: Any) -> httpx.Response:
    query: list[tuple[str, Any]] = []
    for name, value in params.items():
        values = value if isinstance(value, list) else [value]
        query += [(name, item) for item in values]
    return await client.get(f"{API}/search", params=query, headers=user.headers)


async def found(client: httpx.AsyncClient, *, user: UserSession, **params: Any) -> list[str]:
    """The titles a search answers, in order."""
    response = await search(client, user=user, **params)
    assert response.status_code == 200, response.text
    return [item["task"]["title"] for item in response.json()["items"]]

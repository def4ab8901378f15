"""Keyword-only helpers for the task tests: projects, sharing and tasks, made through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.fixtures.factories import UserSession

API = "/api/v1"


async def create_project(client: httpx.AsyncClient, *, owner: UserSession) -> str:
    response = await client.post(
        f"{API}/projects", json={"name": f"Project {uuid.uuid4().hex[:6]}"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


async def share(
    client: httpx.AsyncClient,
    *,
    owner: UserSession,
    project_id: str,
    member: UserSession,
    role: str = "editor",
) -> None:
    response = await client.post(
        f"{API}/projects/{project_id}/members",
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text


async def create_task(
    client: httpx.AsyncClient, *, user: UserSession, **fields: Any
) -> dict[str, Any]:
    body = {"title": f"Task {uuid.uuid4().hex[:6]}", **fields}
    response = await client.post(f"{API}/tasks", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def patch_task(
    client: httpx.AsyncClient,
    *,
    user: UserSession,
    task: dict[str, Any],
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    body = {"version": task["version"], **fields}
    return await client.patch(
        f"{API}/tasks/{task['id']}", json=body, headers={**user.headers, **(headers or {})}
    )


async def get_task(client: httpx.AsyncClient, *, user: UserSession, task_id: str) -> httpx.Response:
    return await client.get(f"{API}/tasks/{task_id}", headers=user.headers)


async def list_all(
    client: httpx.AsyncClient, *, user: UserSession, params: dict[str, Any] | list[Any]
) -> list[dict[str, Any]]:
    """Every page of a task list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = list(params.items()) if isinstance(params, dict) else list(params)
        if cursor is not None:
            query.append(("cursor", cursor))
        response = await client.get(f"{API}/tasks", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items

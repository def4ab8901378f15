"""Keyword-only helpers for the projects tests: projects, sharing and reading the event log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from taskapi.events.reader import Event, Position, events_after
from tests.fixtures.factories import UserSession

API = "/api/v1"
EVENTS_WAIT_SECONDS = 10.0


async def create_project(
    client: httpx.AsyncClient,
    *,
    owner: UserSession,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name or f"Project {uuid.uuid4().hex[:6]}"}
    if description is not None:
        body["description"] = description
    response = await client.post(f"{API}/projects", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


async def share(
    client: httpx.AsyncClient,
    *,
    owner: UserSession,
    project_id: str,
    member: UserSession,
    role: str = "editor",
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/projects/{project_id}/members",
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


async def inbox_of(client: httpx.AsyncClient, *, user: UserSession) -> dict[str, Any]:
    response = await client.get(f"{API}/projects", headers=user.headers)
    assert response.status_code == 200, response.text
    inbox: dict[str, Any] = response.json()["items"][0]
    assert inbox["is_inbox"] is True
    return inbox


async def events_seen_by(
    app: FastAPI, *, user: UserSession, until: tuple[str, str] | None = None, count: int = 1
) -> list[Event]:
    """Every committed event the user may see now, in log order.

    ``until`` is ``(type, entity_id)`` of an event to wait for (``count`` of them): the log hands
    out an event only once every older transaction has ended, and other test sessions share this
    PostgreSQL cluster.
    """
    deadline = asyncio.get_running_loop().time() + EVENTS_WAIT_SECONDS
    while True:
        async with app.state.engine.connect() as conn:
            batch = await events_after(
                conn, Position(0, 0), visible_to=uuid.UUID(user.id), limit=10_000
            )
            await conn.rollback()
        found = until is None or count <= sum(
            (event.type, str(event.entity_id)) == until for event in batch.events
        )
        if found or asyncio.get_running_loop().time() > deadline:
            return batch.events
        await asyncio.sleep(0.05)


def of_type(events: list[Event], type_: str) -> list[Event]:
    return [event for event in events if event.type == type_]

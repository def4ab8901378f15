"""The service functions that bulk and projects reuse validate raw input themselves."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from taskapi.errors import Conflict, ValidationFailed
from taskapi.tasks import service
from tests.fixtures.factories import UserSession
from tests.tasks.factories import create_task, list_all, patch_task


class TestUpdateTaskService:
    @pytest.mark.parametrize(
        ("patch", "loc"),
        [
            ({"title": ""}, ["body", "title"]),
            ({"priority": "3"}, ["body", "priority"]),
            ({"version": 1}, ["body", "version"]),
            ({"tags": ["a", "A"]}, ["body", "tags"]),
        ],
    )
    async def test_raw_patches_are_validated(
        self,
        app: Any,
        client: httpx.AsyncClient,
        user: UserSession,
        patch: dict[str, Any],
        loc: list[str],
    ) -> None:
        task = await create_task(client, user=user)
        async with app.state.engine.connect() as conn:
            with pytest.raises(ValidationFailed) as raised:
                await service.update_task(
                    conn,
                    actor_id=uuid.UUID(user.id),
                    task_id=uuid.UUID(task["id"]),
                    patch=patch,
                    expected=None,
                )
            await conn.rollback()
        assert raised.value.extra["errors"][0]["loc"][:2] == loc


class TestDueDatePatch:
    async def test_due_date_change_and_sort_position(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user, due_date="2030-01-05")
        early = await create_task(client, user=user, due_at="2030-01-03T00:00:00Z")
        moved = await patch_task(client, user=user, task=task, due_date="2030-01-01")
        assert moved.json()["due_date"] == "2030-01-01"
        undated = [await create_task(client, user=user) for _ in range(3)]
        items = await list_all(client, user=user, params={"sort": "due_at", "limit": 1})
        assert [item["id"] for item in items] == [
            task["id"],
            early["id"],
            *sorted(item["id"] for item in undated),
        ]
        items = await list_all(client, user=user, params={"sort": "-due_at", "limit": 2})
        assert [item["id"] for item in items] == [
            early["id"],
            task["id"],
            *sorted((item["id"] for item in undated), reverse=True),
        ]


class TestCrossedReparenting:
    async def test_a_deadlock_becomes_a_conflict(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user=user)
        second = await create_task(client, user=user)
        async with app.state.engine.connect() as blocker, app.state.engine.connect() as writer:
            await blocker.execute(
                text("SELECT 1 FROM tasks WHERE id = :id FOR UPDATE"), {"id": second["id"]}
            )
            reparent = asyncio.create_task(
                service.update_task(
                    writer,
                    actor_id=uuid.UUID(user.id),
                    task_id=uuid.UUID(first["id"]),
                    patch={"parent_id": second["id"]},
                    expected=None,
                )
            )
            await asyncio.sleep(0.3)  # the writer now holds the first task and waits for the second
            outcomes: list[str] = []
            try:
                await blocker.execute(
                    text("SELECT 1 FROM tasks WHERE id = :id FOR UPDATE"), {"id": first["id"]}
                )
                outcomes.append("blocker locked")
            except DBAPIError:
                outcomes.append("blocker aborted")
            await blocker.rollback()
            try:
                await reparent
                outcomes.append("writer succeeded")
            except Conflict:
                outcomes.append("writer conflict")
            await writer.rollback()
        assert outcomes in (
            ["blocker locked", "writer conflict"],
            ["blocker aborted", "writer succeeded"],
        )

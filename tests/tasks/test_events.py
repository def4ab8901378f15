"""What readers of the log see of task changes: moves between projects, removed assignees."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from taskapi.events.reader import Event, Position, events_after
from tests.fixtures.factories import UserSession
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_project, create_task, get_task, patch_task, share
from tests.tasks.test_update import events_of


async def seen_by(app: Any, user: UserSession, task_id: str, count: int) -> list[Event]:
    """The task's events visible to ``user``, waiting until ``count`` of them are readable."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with app.state.engine.connect() as conn:
            batch = await events_after(
                conn, Position(0, 0), visible_to=uuid.UUID(user.id), limit=100_000
            )
            await conn.rollback()
        events = [event for event in batch.events if str(event.entity_id) == task_id]
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.05)


class TestMoveEvents:
    async def test_readers_of_the_source_only_learn_the_task_left(
        self, client: httpx.AsyncClient, app: Any, user: UserSession, other_user: UserSession
    ) -> None:
        source = await create_project(client, owner=user)
        target = await create_project(client, owner=user)
        await share(client, owner=user, project_id=source, member=other_user, role="viewer")
        task = await create_task(client, user=user, project_id=source)
        moved = await patch_task(client, user=user, task=task, project_id=target)
        assert moved.status_code == 200
        outsider_view = await seen_by(app, other_user, task["id"], 2)
        assert [event.type for event in outsider_view] == ["task.created", "task.deleted"]
        assert outsider_view[1].data["project_id"] == source
        assert outsider_view[1].version == 2
        member_view = await seen_by(app, user, task["id"], 2)
        assert [event.type for event in member_view] == ["task.created", "task.updated"]
        assert member_view[1].data["project_id"] == target


class TestRemovedMemberAssignments:
    async def test_removing_a_member_clears_their_assignments(
        self, client: httpx.AsyncClient, team: Team, database_url: str
    ) -> None:
        assigned = await create_task(
            client, user=team.owner, project_id=team.project_id, assignee_id=team.editor.id
        )
        other = await create_task(
            client, user=team.owner, project_id=team.project_id, assignee_id=team.viewer.id
        )
        response = await client.delete(
            f"{API}/projects/{team.project_id}/members/{team.editor.id}", headers=team.owner.headers
        )
        assert response.status_code == 204, response.text
        after = (await get_task(client, user=team.owner, task_id=assigned["id"])).json()
        assert after["assignee_id"] is None
        assert after["version"] == 2
        events = await events_of(database_url, assigned["id"])
        assert events[-1]["type"] == "task.updated"
        assert events[-1]["changes"] == {"assignee_id": {"before": team.editor.id, "after": None}}
        assert events[-1]["data"] == after
        untouched = (await get_task(client, user=team.owner, task_id=other["id"])).json()
        assert untouched["assignee_id"] == team.viewer.id
        assert untouched["version"] == 1

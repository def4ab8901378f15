"""PATCH /tasks/{id}: merge patch, versions, field rules, moves between projects, events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.factories import UserSession
from tests.fixtures.sql import fetch
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_project, create_task, get_task, patch_task, share


async def events_of(database_url: str, task_id: str) -> list[dict[str, Any]]:
    rows = await fetch(
        database_url,
        "SELECT type, version, project_id, hidden_from_project_id, data, changes, actor_id"
        " FROM events WHERE entity_id = $1 ORDER BY id",
        uuid.UUID(task_id),
    )
    return [
        {
            "type": row["type"],
            "version": row["version"],
            "project_id": str(row["project_id"]),
            "hidden_from_project_id": None
            if row["hidden_from_project_id"] is None
            else str(row["hidden_from_project_id"]),
            "data": orjson.loads(row["data"]),
            "changes": None if row["changes"] is None else orjson.loads(row["changes"]),
            "actor_id": str(row["actor_id"]),
        }
        for row in rows
    ]


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["errors"]]


class TestPatchTask:
    async def test_changes_fields_and_version(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user, title="old")
        response = await patch_task(client, user=user, task=task, title=" new ", priority=3)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["title"] == "new"
        assert body["priority"] == 3
        assert body["version"] == 2
        assert body["updated_at"] >= task["updated_at"]
        assert response.headers["etag"] == '"2"'
        events = await events_of(database_url, task["id"])
        assert [event["type"] for event in events] == ["task.created", "task.updated"]
        assert events[1]["data"] == body
        assert events[1]["version"] == 2
        assert events[1]["changes"] == {
            "title": {"before": "old", "after": "new"},
            "priority": {"before": 0, "after": 3},
        }

    async def test_merge_patch_content_type(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            content=orjson.dumps({"version": 1, "status": "in_progress"}),
            headers={**user.headers, "Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "in_progress"

    async def test_other_content_type_is_415(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            content=b"title=x",
            headers={**user.headers, "Content-Type": "text/plain"},
        )
        assert response.status_code == 415

    async def test_null_clears_nullable_fields(self, client: httpx.AsyncClient, team: Team) -> None:
        parent = await create_task(client, user=team.owner, project_id=team.project_id)
        task = await create_task(
            client,
            user=team.owner,
            project_id=team.project_id,
            parent_id=parent["id"],
            assignee_id=team.editor.id,
            due_at="2030-01-01T00:00:00Z",
            description="text",
            tags=["a"],
        )
        response = await patch_task(
            client,
            user=team.owner,
            task=task,
            parent_id=None,
            assignee_id=None,
            due_at=None,
            description=None,
            tags=None,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["parent_id"] is None
        assert body["assignee_id"] is None
        assert body["due_at"] is None
        assert body["description"] == ""
        assert body["tags"] == []

    @pytest.mark.parametrize("field", ["title", "status", "priority", "project_id"])
    async def test_null_for_a_required_field(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        task = await create_task(client, user=user)
        assert ["body", field] in locs(
            await patch_task(client, user=user, task=task, **{field: None})
        )

    async def test_status_done_sets_and_clears_completed_at(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        done = (await patch_task(client, user=user, task=task, status="done")).json()
        assert done["completed_at"] is not None
        reopened = (await patch_task(client, user=user, task=done, status="todo")).json()
        assert reopened["completed_at"] is None

    async def test_switching_from_due_date_to_due_at(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user, due_date="2030-01-01")
        rejected = await patch_task(client, user=user, task=task, due_at="2030-01-01T09:00:00Z")
        assert ["body", "due_at"] in locs(rejected)
        response = await patch_task(
            client, user=user, task=task, due_at="2030-01-01T09:00:00Z", due_date=None
        )
        assert response.status_code == 200
        assert response.json()["due_date"] is None

    async def test_nothing_changed_keeps_the_version_and_writes_no_event(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user, title="same", tags=["x"])
        response = await patch_task(client, user=user, task=task, title="same ", tags=["x"])
        assert response.status_code == 200
        assert response.json() == task
        assert len(await events_of(database_url, task["id"])) == 1

    async def test_version_from_if_match(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            json={"title": "via header"},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert response.status_code == 200
        assert response.json()["version"] == 2

    async def test_stale_version_returns_current(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        current = (await patch_task(client, user=user, task=task, title="first")).json()
        response = await patch_task(client, user=user, task=task, title="second")
        assert response.status_code == 409
        body = response.json()
        assert body["type"] == "/problems/version-conflict"
        assert body["current"] == current
        assert response.headers["etag"] == '"2"'

    async def test_stale_if_match_is_412(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        current = (await patch_task(client, user=user, task=task, title="first")).json()
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            json={"title": "second"},
            headers={**user.headers, "If-Match": '"1"'},
        )
        assert response.status_code == 412
        assert response.json()["current"] == current
        assert response.headers["etag"] == '"2"'

    async def test_no_version_is_428(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}", json={"title": "x"}, headers=user.headers
        )
        assert response.status_code == 428
        assert response.json()["type"] == "/problems/precondition-required"

    async def test_body_and_if_match_disagree(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await patch_task(
            client, user=user, task=task, title="x", headers={"If-Match": '"2"'}
        )
        assert response.status_code == 422

    @pytest.mark.parametrize("version", ["1", -1, 0, 2**40, 1.5, True])
    async def test_bad_version(
        self, client: httpx.AsyncClient, user: UserSession, version: Any
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            json={"version": version, "title": "x"},
            headers=user.headers,
        )
        assert ["body", "version"] in locs(response)

    @pytest.mark.parametrize("if_match", ["*", "1", '"abc"', '"1", "2"', 'W/"x"'])
    async def test_bad_if_match(
        self, client: httpx.AsyncClient, user: UserSession, if_match: str
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.patch(
            f"{API}/tasks/{task['id']}",
            json={"title": "x"},
            headers={**user.headers, "If-Match": if_match},
        )
        assert ["header", "If-Match"] in locs(response)

    async def test_deleted_task_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user)
        await client.delete(f"{API}/tasks/{task['id']}", headers=user.headers)
        response = await patch_task(client, user=user, task=task, title="x")
        assert response.status_code == 404
        stale = await client.patch(
            f"{API}/tasks/{task['id']}", json={"version": 1, "title": "x"}, headers=user.headers
        )
        assert stale.status_code == 404

    async def test_path_id_that_is_not_a_uuid_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.patch(
            f"{API}/tasks/nope", json={"version": 1, "title": "x"}, headers=user.headers
        )
        assert response.status_code == 404

    async def test_another_users_task_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        task = await create_task(client, user=other_user)
        assert (await patch_task(client, user=user, task=task, title="x")).status_code == 404

    async def test_viewer_gets_403(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        response = await patch_task(client, user=team.viewer, task=task, title="x")
        assert response.status_code == 403

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("id", "0190a000-0000-7000-8000-000000000000"),
            ("created_at", "2030-01-01T00:00:00Z"),
            ("updated_at", "2030-01-01T00:00:00Z"),
            ("completed_at", "2030-01-01T00:00:00Z"),
            ("created_by", "0190a000-0000-7000-8000-000000000000"),
            ("colour", "red"),
        ],
    )
    async def test_unknown_and_read_only_fields(
        self, client: httpx.AsyncClient, user: UserSession, field: str, value: str
    ) -> None:
        task = await create_task(client, user=user)
        assert ["body", field] in locs(
            await patch_task(client, user=user, task=task, **{field: value})
        )

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("title", "   "),
            ("title", "x" * 501),
            ("priority", 5),
            ("priority", "3"),
            ("due_at", "2030-01-01T00:00:00"),
            ("due_date", "soon"),
            ("tags", ["a", "A"]),
            ("tags", [str(i) for i in range(21)]),
            ("status", "closed"),
        ],
    )
    async def test_bad_values(
        self, client: httpx.AsyncClient, user: UserSession, field: str, value: Any
    ) -> None:
        task = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=task, **{field: value})
        assert any(loc[:2] == ["body", field] for loc in locs(response))


class TestPatchTaskRelations:
    async def test_parent_creating_a_cycle(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        top = await create_task(client, user=user)
        middle = await create_task(client, user=user, parent_id=top["id"])
        bottom = await create_task(client, user=user, parent_id=middle["id"])
        response = await patch_task(client, user=user, task=top, parent_id=bottom["id"])
        assert locs(response) == [["body", "parent_id"]]
        itself = await patch_task(client, user=user, task=top, parent_id=top["id"])
        assert locs(itself) == [["body", "parent_id"]]

    async def test_reparenting_within_the_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user=user)
        second = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=second, parent_id=first["id"])
        assert response.status_code == 200
        assert response.json()["parent_id"] == first["id"]

    async def test_parent_in_another_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=user)
        elsewhere = await create_task(client, user=user, project_id=project_id)
        task = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=task, parent_id=elsewhere["id"])
        assert locs(response) == [["body", "parent_id"]]

    @pytest.mark.parametrize("field", ["parent_id", "assignee_id", "project_id"])
    async def test_another_users_ids_in_the_body(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession, field: str
    ) -> None:
        foreign = {
            "parent_id": (await create_task(client, user=other_user))["id"],
            "assignee_id": other_user.id,
            "project_id": await create_project(client, owner=other_user),
        }[field]
        task = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=task, **{field: foreign})
        assert locs(response) == [["body", field]]

    @pytest.mark.parametrize("field", ["parent_id", "assignee_id", "project_id"])
    async def test_unknown_ids_in_the_body(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        task = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=task, **{field: str(uuid.uuid4())})
        assert locs(response) == [["body", field]]

    async def test_assignee_must_be_a_member(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        ok = await patch_task(client, user=team.owner, task=task, assignee_id=team.viewer.id)
        assert ok.status_code == 200
        response = await patch_task(
            client, user=team.owner, task=ok.json(), assignee_id=team.outsider.id
        )
        assert locs(response) == [["body", "assignee_id"]]


class TestPatchTaskMove:
    async def test_move_takes_subtasks_and_writes_tombstones(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        source = await create_project(client, owner=user)
        target = await create_project(client, owner=user)
        parent = await create_task(client, user=user, project_id=source)
        child = await create_task(client, user=user, project_id=source, parent_id=parent["id"])
        grandchild = await create_task(client, user=user, project_id=source, parent_id=child["id"])
        response = await patch_task(client, user=user, task=parent, project_id=target)
        assert response.status_code == 200, response.text
        assert response.json()["project_id"] == target
        for task in (child, grandchild):
            moved = (await get_task(client, user=user, task_id=task["id"])).json()
            assert moved["project_id"] == target
            assert moved["version"] == 2
            events = await events_of(database_url, task["id"])
            assert [event["type"] for event in events[1:]] == ["task.updated", "task.deleted"]
            assert events[1]["changes"] == {"project_id": {"before": source, "after": target}}
        events = await events_of(database_url, parent["id"])
        update, tombstone = events[1], events[2]
        assert update["type"] == "task.updated"
        assert update["project_id"] == target
        assert update["hidden_from_project_id"] is None
        assert tombstone["type"] == "task.deleted"
        assert tombstone["project_id"] == source
        assert tombstone["hidden_from_project_id"] == target
        assert tombstone["version"] == 2
        assert set(tombstone["data"]) == {"id", "project_id", "version", "deleted_at"}
        assert tombstone["data"]["project_id"] == source

    async def test_subtask_moves_only_with_parent_id_null(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        target = await create_project(client, owner=user)
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        refused = await patch_task(client, user=user, task=child, project_id=target)
        assert locs(refused) == [["body", "project_id"]]
        moved = await patch_task(client, user=user, task=child, project_id=target, parent_id=None)
        assert moved.status_code == 200
        assert moved.json()["project_id"] == target
        assert moved.json()["parent_id"] is None

    async def test_move_needs_editor_rights_on_the_destination(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        target = await create_project(client, owner=other_user)
        await share(client, owner=other_user, project_id=target, member=user, role="viewer")
        task = await create_task(client, user=user)
        response = await patch_task(client, user=user, task=task, project_id=target)
        assert response.status_code == 403

    async def test_move_with_an_assignee_who_is_not_a_member_of_the_destination(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        target = await create_project(client, owner=team.owner)
        task = await create_task(
            client, user=team.owner, project_id=team.project_id, assignee_id=team.editor.id
        )
        response = await patch_task(client, user=team.owner, task=task, project_id=target)
        assert locs(response) == [["body", "assignee_id"]]

    async def test_move_with_a_subtask_assignee_who_is_not_a_member(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        target = await create_project(client, owner=team.owner)
        parent = await create_task(client, user=team.owner, project_id=team.project_id)
        await create_task(
            client,
            user=team.owner,
            project_id=team.project_id,
            parent_id=parent["id"],
            assignee_id=team.editor.id,
        )
        response = await patch_task(client, user=team.owner, task=parent, project_id=target)
        assert locs(response) == [["body", "project_id"]]

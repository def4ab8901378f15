"""POST /tasks: fields, defaults, the Inbox, body ids, idempotency."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.factories import UserSession
from tests.fixtures.sql import fetch, fetchval
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_project, create_task


async def post(
    client: httpx.AsyncClient, user: UserSession, body: Any, **headers: str
) -> httpx.Response:
    return await client.post(f"{API}/tasks", json=body, headers={**user.headers, **headers})


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["errors"]]


class TestCreateTask:
    async def test_defaults_go_to_the_inbox(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        response = await post(client, user, {"title": "  Buy milk  "})
        assert response.status_code == 201, response.text
        task = response.json()
        inbox = await fetchval(
            database_url,
            "SELECT id FROM projects WHERE owner_id = $1 AND is_inbox",
            uuid.UUID(user.id),
        )
        assert task["project_id"] == str(inbox)
        assert task["title"] == "Buy milk"
        assert task["description"] == ""
        assert task["status"] == "todo"
        assert task["priority"] == 0
        assert task["tags"] == []
        assert task["parent_id"] is None
        assert task["assignee_id"] is None
        assert task["completed_at"] is None
        assert task["created_by"] == user.id
        assert task["version"] == 1
        assert task["created_at"].endswith("Z")
        assert response.headers["location"] == f"{API}/tasks/{task['id']}"
        assert response.headers["etag"] == '"1"'
        assert set(task) == {
            "id",
            "project_id",
            "parent_id",
            "title",
            "description",
            "status",
            "priority",
            "due_at",
            "due_date",
            "tags",
            "assignee_id",
            "completed_at",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        }

    async def test_all_fields_are_stored_and_normalised(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        response = await post(
            client,
            team.owner,
            {
                "project_id": team.project_id,
                "title": "Ship",
                "description": "All of it",
                "status": "in_progress",
                "priority": 4,
                "due_at": "2030-05-01T12:00:00+02:00",
                "tags": [" Work ", "urgent"],
                "assignee_id": team.editor.id,
            },
        )
        assert response.status_code == 201, response.text
        task = response.json()
        assert task["due_at"] == "2030-05-01T10:00:00Z"
        assert task["due_date"] is None
        assert task["tags"] == ["Work", "urgent"]
        assert task["assignee_id"] == team.editor.id
        assert task["priority"] == 4

    async def test_created_done_sets_completed_at(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user, status="done")
        assert task["completed_at"] is not None

    async def test_due_date_fills_due_sort(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user, due_date="2031-02-03")
        assert task["due_date"] == "2031-02-03"
        rows = await fetch(
            database_url,
            "SELECT due_sort, tag_keys FROM tasks WHERE id = $1",
            uuid.UUID(task["id"]),
        )
        assert rows[0]["due_sort"].isoformat() == "2031-02-03T00:00:00+00:00"

    async def test_tag_keys_are_lower_cased(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user, tags=["Home", "ERRANDS"])
        keys = await fetchval(
            database_url, "SELECT tag_keys FROM tasks WHERE id = $1", uuid.UUID(task["id"])
        )
        assert keys == ["home", "errands"]

    async def test_writes_a_created_event(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user, title="Evented")
        rows = await fetch(
            database_url,
            "SELECT type, version, actor_id, data, changes FROM events WHERE entity_id = $1",
            uuid.UUID(task["id"]),
        )
        assert len(rows) == 1
        assert rows[0]["type"] == "task.created"
        assert rows[0]["version"] == 1
        assert str(rows[0]["actor_id"]) == user.id
        assert orjson.loads(rows[0]["data"]) == task
        changes = orjson.loads(rows[0]["changes"])
        assert changes["title"] == {"before": None, "after": "Evented"}

    async def test_subtask_in_the_same_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        assert child["parent_id"] == parent["id"]
        assert child["project_id"] == parent["project_id"]


class TestCreateTaskRejects:
    @pytest.mark.parametrize("title", ["", "   ", "x" * 501, None, 5, "a\x00b"])
    async def test_bad_title(
        self, client: httpx.AsyncClient, user: UserSession, title: Any
    ) -> None:
        assert ["body", "title"] in error_locs(await post(client, user, {"title": title}))

    async def test_title_of_500_chars_is_fine(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user, title="y" * 500)
        assert len(task["title"]) == 500

    async def test_missing_title(self, client: httpx.AsyncClient, user: UserSession) -> None:
        assert ["body", "title"] in error_locs(await post(client, user, {}))

    async def test_description_too_long(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await post(client, user, {"title": "t", "description": "d" * 20_001})
        assert ["body", "description"] in error_locs(response)

    @pytest.mark.parametrize("status", ["open", "DONE", None, 1])
    async def test_bad_status(
        self, client: httpx.AsyncClient, user: UserSession, status: Any
    ) -> None:
        assert ["body", "status"] in error_locs(
            await post(client, user, {"title": "t", "status": status})
        )

    @pytest.mark.parametrize("priority", [5, -1, "3", 3.5, True, None])
    async def test_bad_priority(
        self, client: httpx.AsyncClient, user: UserSession, priority: Any
    ) -> None:
        response = await post(client, user, {"title": "t", "priority": priority})
        assert ["body", "priority"] in error_locs(response)

    @pytest.mark.parametrize(
        "due_at", ["2030-01-01T10:00:00", "tomorrow", "2030-13-01T00:00:00Z", 1700000000]
    )
    async def test_bad_due_at(
        self, client: httpx.AsyncClient, user: UserSession, due_at: Any
    ) -> None:
        response = await post(client, user, {"title": "t", "due_at": due_at})
        assert ["body", "due_at"] in error_locs(response)

    @pytest.mark.parametrize(
        "due_date", ["2030-02-30", "30.01.2030", "2030-01-01T00:00:00Z", 20300101]
    )
    async def test_bad_due_date(
        self, client: httpx.AsyncClient, user: UserSession, due_date: Any
    ) -> None:
        response = await post(client, user, {"title": "t", "due_date": due_date})
        assert ["body", "due_date"] in error_locs(response)

    async def test_due_at_and_due_date_together(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await post(
            client, user, {"title": "t", "due_at": "2030-01-01T00:00:00Z", "due_date": "2030-01-01"}
        )
        assert ["body", "due_date"] in error_locs(response)

    async def test_21_tags(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await post(client, user, {"title": "t", "tags": [f"t{i}" for i in range(21)]})
        assert ["body", "tags"] in error_locs(response)

    async def test_20_tags_are_fine(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user, tags=[f"t{i}" for i in range(20)])
        assert len(task["tags"]) == 20

    async def test_tags_differing_in_case(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await post(client, user, {"title": "t", "tags": ["Work", "work"]})
        assert ["body", "tags"] in error_locs(response)

    @pytest.mark.parametrize("tag", ["", "  ", "x" * 51])
    async def test_bad_tag(self, client: httpx.AsyncClient, user: UserSession, tag: str) -> None:
        response = await post(client, user, {"title": "t", "tags": [tag]})
        assert any(loc[:2] == ["body", "tags"] for loc in error_locs(response))

    @pytest.mark.parametrize(
        "field",
        ["id", "created_at", "updated_at", "version", "completed_at", "created_by", "colour"],
    )
    async def test_unknown_and_read_only_fields(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        response = await post(client, user, {"title": "t", field: "x"})
        assert ["body", field] in error_locs(response)

    @pytest.mark.parametrize("field", ["project_id", "parent_id", "assignee_id"])
    async def test_body_id_that_is_not_a_uuid(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        assert ["body", field] in error_locs(
            await post(client, user, {"title": "t", field: "nope"})
        )

    @pytest.mark.parametrize("field", ["project_id", "parent_id", "assignee_id"])
    async def test_unknown_body_id(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        response = await post(client, user, {"title": "t", field: str(uuid.uuid4())})
        assert error_locs(response) == [["body", field]]

    async def test_another_users_project(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=other_user)
        response = await post(client, user, {"title": "t", "project_id": project_id})
        assert error_locs(response) == [["body", "project_id"]]

    async def test_another_users_parent(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        foreign = await create_task(client, user=other_user)
        response = await post(client, user, {"title": "t", "parent_id": foreign["id"]})
        assert error_locs(response) == [["body", "parent_id"]]

    async def test_parent_in_another_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        project_id = await create_project(client, owner=user)
        response = await post(
            client, user, {"title": "t", "project_id": project_id, "parent_id": parent["id"]}
        )
        assert error_locs(response) == [["body", "parent_id"]]

    async def test_deleted_parent(self, client: httpx.AsyncClient, user: UserSession) -> None:
        parent = await create_task(client, user=user)
        await client.delete(f"{API}/tasks/{parent['id']}", headers=user.headers)
        response = await post(client, user, {"title": "t", "parent_id": parent["id"]})
        assert error_locs(response) == [["body", "parent_id"]]

    async def test_assignee_who_is_not_a_member(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        response = await post(client, user, {"title": "t", "assignee_id": other_user.id})
        assert error_locs(response) == [["body", "assignee_id"]]

    async def test_viewer_cannot_create(self, client: httpx.AsyncClient, team: Team) -> None:
        response = await post(client, team.viewer, {"title": "t", "project_id": team.project_id})
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/forbidden"

    async def test_malformed_json(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.post(
            f"{API}/tasks",
            content=b'{"title": ',
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400

    async def test_body_that_is_not_an_object(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        assert (await post(client, user, ["title"])).status_code == 422

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{API}/tasks", json={"title": "t"})
        assert response.status_code == 401


class TestCreateTaskIdempotency:
    async def test_same_key_same_body_replays(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        key = uuid.uuid4().hex
        body = {"title": f"Once {key}"}
        first = await post(client, user, body, **{"Idempotency-Key": key})
        second = await post(client, user, body, **{"Idempotency-Key": key})
        assert first.status_code == second.status_code == 201
        assert second.headers["idempotent-replayed"] == "true"
        assert second.json() == first.json()
        assert second.headers["location"] == first.headers["location"]
        assert second.headers["etag"] == first.headers["etag"]
        count = await fetchval(
            database_url, "SELECT count(*) FROM tasks WHERE title = $1", body["title"]
        )
        assert count == 1

    async def test_same_key_other_body_is_rejected(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        key = uuid.uuid4().hex
        first = await post(client, user, {"title": "one"}, **{"Idempotency-Key": key})
        assert first.status_code == 201
        second = await post(client, user, {"title": "two"}, **{"Idempotency-Key": key})
        assert second.status_code == 422
        assert second.json()["type"] == "/problems/idempotency-key-reused"

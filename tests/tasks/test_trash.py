"""DELETE /tasks/{id}, POST /tasks/{id}/restore, GET /trash and GET /tasks/{id}/history."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.fixtures.sql import execute
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_project, create_task, get_task, list_all, patch_task
from tests.tasks.test_update import events_of


async def delete(
    client: httpx.AsyncClient, user: UserSession, task_id: str, **headers: str
) -> httpx.Response:
    return await client.delete(f"{API}/tasks/{task_id}", headers={**user.headers, **headers})


async def restore(client: httpx.AsyncClient, user: UserSession, task_id: str) -> httpx.Response:
    return await client.post(f"{API}/tasks/{task_id}/restore", headers=user.headers)


class TestDeleteTask:
    async def test_deletes_the_subtree_with_one_event_each(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        grandchild = await create_task(client, user=user, parent_id=child["id"])
        other = await create_task(client, user=user)
        response = await delete(client, user, parent["id"])
        assert response.status_code == 204
        for task in (parent, child, grandchild):
            assert (await get_task(client, user=user, task_id=task["id"])).status_code == 404
            events = await events_of(database_url, task["id"])
            assert [event["type"] for event in events] == ["task.created", "task.deleted"]
            assert events[1]["version"] == 2
            assert set(events[1]["data"]) == {"id", "project_id", "version", "deleted_at"}
            assert events[1]["data"]["version"] == 2
        assert [item["id"] for item in await list_all(client, user=user, params={})] == [
            other["id"]
        ]

    async def test_deleting_a_deleted_task_changes_nothing(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user)
        await delete(client, user, task["id"])
        again = await delete(client, user, task["id"], **{"If-Match": '"1"'})
        assert again.status_code == 204
        assert len(await events_of(database_url, task["id"])) == 2

    async def test_if_match_is_checked(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user)
        await patch_task(client, user=user, task=task, title="v2")
        stale = await delete(client, user, task["id"], **{"If-Match": '"1"'})
        assert stale.status_code == 412
        assert stale.json()["current"]["version"] == 2
        assert (await delete(client, user, task["id"], **{"If-Match": '"2"'})).status_code == 204

    @pytest.mark.parametrize("if_match", ["*", "two"])
    async def test_malformed_if_match(
        self, client: httpx.AsyncClient, user: UserSession, if_match: str
    ) -> None:
        task = await create_task(client, user=user)
        assert (await delete(client, user, task["id"], **{"If-Match": if_match})).status_code == 422

    async def test_already_deleted_subtask_keeps_its_own_deletion(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        await delete(client, user, child["id"])
        await delete(client, user, parent["id"])
        restored = await restore(client, user, parent["id"])
        assert restored.status_code == 200
        assert (await get_task(client, user=user, task_id=child["id"])).status_code == 404

    async def test_unknown_and_foreign_and_malformed_ids_are_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        foreign = await create_task(client, user=other_user)
        for task_id in (foreign["id"], str(uuid.uuid4()), "nope"):
            assert (await delete(client, user, task_id)).status_code == 404
        assert (await get_task(client, user=other_user, task_id=foreign["id"])).status_code == 200

    async def test_viewer_gets_403(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        assert (await delete(client, team.viewer, task["id"])).status_code == 403


class TestRestoreTask:
    async def test_restores_exactly_what_was_deleted_with_it(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        await delete(client, user, parent["id"])
        response = await restore(client, user, parent["id"])
        assert response.status_code == 200
        assert response.json()["version"] == 3
        assert response.headers["etag"] == '"3"'
        restored_child = (await get_task(client, user=user, task_id=child["id"])).json()
        assert restored_child["version"] == 3
        events = await events_of(database_url, child["id"])
        assert [event["type"] for event in events] == [
            "task.created",
            "task.deleted",
            "task.restored",
        ]
        assert events[2]["data"] == restored_child

    async def test_live_task_is_unchanged(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        task = await create_task(client, user=user)
        response = await restore(client, user, task["id"])
        assert response.status_code == 200
        assert response.json() == task
        assert len(await events_of(database_url, task["id"])) == 1

    async def test_under_a_deleted_parent_is_409(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        await delete(client, user, child["id"])
        await delete(client, user, parent["id"])
        response = await restore(client, user, child["id"])
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    async def test_subtask_deleted_with_its_parent_is_409(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        await delete(client, user, parent["id"])
        assert (await restore(client, user, child["id"])).status_code == 409

    async def test_foreign_unknown_and_malformed_ids_are_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        foreign = await create_task(client, user=other_user)
        await delete(client, other_user, foreign["id"])
        for task_id in (foreign["id"], str(uuid.uuid4()), "nope"):
            assert (await restore(client, user, task_id)).status_code == 404

    async def test_viewer_gets_403(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        await delete(client, team.owner, task["id"])
        assert (await restore(client, team.viewer, task["id"])).status_code == 403


class TestTrash:
    async def test_roots_of_deletions_newest_first(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user=user)
        parent = await create_task(client, user=user)
        await create_task(client, user=user, parent_id=parent["id"])
        await delete(client, user, first["id"])
        await delete(client, user, parent["id"])
        response = await client.get(f"{API}/trash", headers=user.headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [item["task"]["id"] for item in items] == [parent["id"], first["id"]]
        assert items[0]["kind"] == "task"
        assert items[0]["deleted_by"] == user.id
        assert items[0]["deleted_at"].endswith("Z")
        assert items[0]["task"]["version"] == 2

    async def test_pages_and_filters_by_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=user)
        made = [await create_task(client, user=user, project_id=project_id) for _ in range(3)]
        await create_task(client, user=user)
        for task in made:
            await delete(client, user, task["id"])
        seen: list[str] = []
        cursor = None
        while True:
            params = {"project_id": project_id, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            body = (await client.get(f"{API}/trash", params=params, headers=user.headers)).json()
            seen.extend(item["task"]["id"] for item in body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == [task["id"] for task in reversed(made)]

    async def test_cursor_for_another_project_is_rejected(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        for _ in range(2):
            task = await create_task(client, user=user)
            await delete(client, user, task["id"])
        body = (await client.get(f"{API}/trash", params={"limit": 1}, headers=user.headers)).json()
        project_id = await create_project(client, owner=user)
        response = await client.get(
            f"{API}/trash",
            params={"limit": 1, "cursor": body["next_cursor"], "project_id": project_id},
            headers=user.headers,
        )
        assert response.status_code == 400
        tampered = await client.get(
            f"{API}/trash", params={"cursor": body["next_cursor"][:-3]}, headers=user.headers
        )
        assert tampered.status_code == 400

    async def test_deleted_projects_show_for_their_owner(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        response = await client.delete(
            f"{API}/projects/{team.project_id}", headers=team.owner.headers
        )
        assert response.status_code == 204, response.text
        items = (await client.get(f"{API}/trash", headers=team.owner.headers)).json()["items"]
        assert items[0]["kind"] == "project"
        assert items[0]["project"]["id"] == team.project_id
        assert items[0]["project"]["role"] == "owner"
        assert items[0]["deleted_by"] == team.owner.id
        editor_items = (await client.get(f"{API}/trash", headers=team.editor.headers)).json()
        assert editor_items["items"] == []

    async def test_viewers_see_no_tasks(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        await delete(client, team.owner, task["id"])
        editor = (await client.get(f"{API}/trash", headers=team.editor.headers)).json()
        assert [item["task"]["id"] for item in editor["items"]] == [task["id"]]
        viewer = (await client.get(f"{API}/trash", headers=team.viewer.headers)).json()
        assert viewer["items"] == []
        scoped = await client.get(
            f"{API}/trash", params={"project_id": team.project_id}, headers=team.viewer.headers
        )
        assert scoped.status_code == 403

    async def test_foreign_project_filter_is_404(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        response = await client.get(
            f"{API}/trash", params={"project_id": team.project_id}, headers=team.outsider.headers
        )
        assert response.status_code == 404

    @pytest.mark.parametrize("limit", ["0", "201", "-1", "abc"])
    async def test_bad_limit(
        self, client: httpx.AsyncClient, user: UserSession, limit: str
    ) -> None:
        response = await client.get(f"{API}/trash", params={"limit": limit}, headers=user.headers)
        assert response.status_code == 422


class TestTaskHistory:
    async def test_newest_first_with_changes(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id, title="a")
        updated = (await patch_task(client, user=team.editor, task=task, title="b")).json()
        await patch_task(client, user=team.owner, task=updated, status="done")
        response = await client.get(
            f"{API}/tasks/{task['id']}/history", headers=team.viewer.headers
        )
        assert response.status_code == 200
        items = response.json()["items"]
        assert [item["type"] for item in items] == ["task.updated", "task.updated", "task.created"]
        assert items[1]["actor_id"] == team.editor.id
        assert items[1]["changes"] == {"title": {"before": "a", "after": "b"}}
        assert items[0]["changes"]["status"] == {"before": "todo", "after": "done"}
        assert items[2]["changes"]["title"] == {"before": None, "after": "a"}
        assert items[0]["ts"].endswith("Z")

    async def test_pages(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user)
        for index in range(4):
            task = (await patch_task(client, user=user, task=task, title=f"t{index}")).json()
        first = (
            await client.get(
                f"{API}/tasks/{task['id']}/history", params={"limit": 2}, headers=user.headers
            )
        ).json()
        second = (
            await client.get(
                f"{API}/tasks/{task['id']}/history",
                params={"limit": 10, "cursor": first["next_cursor"]},
                headers=user.headers,
            )
        ).json()
        versions = [item["version"] for item in first["items"] + second["items"]]
        assert versions == [5, 4, 3, 2, 1]
        assert second["next_cursor"] is None

    async def test_cursor_of_another_task_is_rejected(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        await patch_task(client, user=user, task=task, title="x")
        cursor = (
            await client.get(
                f"{API}/tasks/{task['id']}/history", params={"limit": 1}, headers=user.headers
            )
        ).json()["next_cursor"]
        other = await create_task(client, user=user)
        response = await client.get(
            f"{API}/tasks/{other['id']}/history", params={"cursor": cursor}, headers=user.headers
        )
        assert response.status_code == 400

    async def test_a_move_shows_once(self, client: httpx.AsyncClient, user: UserSession) -> None:
        target = await create_project(client, owner=user)
        task = await create_task(client, user=user)
        await patch_task(client, user=user, task=task, project_id=target)
        items = (
            await client.get(f"{API}/tasks/{task['id']}/history", headers=user.headers)
        ).json()["items"]
        assert [item["type"] for item in items] == ["task.updated", "task.created"]

    async def test_deleted_task_history_stays_readable(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        await delete(client, user, task["id"])
        response = await client.get(f"{API}/tasks/{task['id']}/history", headers=user.headers)
        assert [item["type"] for item in response.json()["items"]] == [
            "task.deleted",
            "task.created",
        ]

    async def test_invisible_tasks_are_404(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        database_url: str,
    ) -> None:
        foreign = await create_task(client, user=other_user)
        project_id = await create_project(client, owner=user)
        in_deleted_project = await create_task(client, user=user, project_id=project_id)
        await execute(
            database_url,
            "UPDATE projects SET deleted_at = now() WHERE id = $1",
            uuid.UUID(project_id),
        )
        for task_id in (foreign["id"], in_deleted_project["id"], str(uuid.uuid4()), "nope"):
            response = await client.get(f"{API}/tasks/{task_id}/history", headers=user.headers)
            assert response.status_code == 404

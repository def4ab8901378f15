"""GET /tasks/{id} and GET /tasks: visibility, ETags, filters, sorting and keyset paging."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.fixtures.sql import execute
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_project, create_task, get_task, list_all


async def list_page(
    client: httpx.AsyncClient, user: UserSession, params: dict[str, Any] | list[Any]
) -> httpx.Response:
    return await client.get(f"{API}/tasks", params=params, headers=user.headers)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


class TestGetTask:
    async def test_returns_the_task_with_its_etag(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await get_task(client, user=user, task_id=task["id"])
        assert response.status_code == 200
        assert response.json() == task
        assert response.headers["etag"] == '"1"'
        assert response.headers["cache-control"] == "no-store"

    async def test_if_none_match_gives_304(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.get(
            f"{API}/tasks/{task['id']}", headers={**user.headers, "If-None-Match": '"1"'}
        )
        assert response.status_code == 304
        assert response.headers["etag"] == '"1"'
        assert response.content == b""

    async def test_stale_if_none_match_gives_the_task(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        response = await client.get(
            f"{API}/tasks/{task['id']}", headers={**user.headers, "If-None-Match": '"7", W/"8"'}
        )
        assert response.status_code == 200

    async def test_id_that_is_not_a_uuid_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await get_task(client, user=user, task_id="not-a-uuid")
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        assert (await get_task(client, user=user, task_id=str(uuid.uuid4()))).status_code == 404

    async def test_another_users_task_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        task = await create_task(client, user=other_user)
        assert (await get_task(client, user=user, task_id=task["id"])).status_code == 404

    async def test_deleted_task_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        task = await create_task(client, user=user)
        await client.delete(f"{API}/tasks/{task['id']}", headers=user.headers)
        assert (await get_task(client, user=user, task_id=task["id"])).status_code == 404

    async def test_task_in_a_deleted_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        project_id = await create_project(client, owner=user)
        task = await create_task(client, user=user, project_id=project_id)
        await execute(
            database_url,
            "UPDATE projects SET deleted_at = now() WHERE id = $1",
            uuid.UUID(project_id),
        )
        assert (await get_task(client, user=user, task_id=task["id"])).status_code == 404

    async def test_viewer_can_read(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        assert (await get_task(client, user=team.viewer, task_id=task["id"])).status_code == 200


class TestListTasks:
    async def test_lists_every_visible_project_newest_first(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        shared = await create_task(client, user=team.owner, project_id=team.project_id)
        own = await create_task(client, user=team.editor)
        foreign = await create_task(client, user=team.outsider)
        response = await list_page(client, team.editor, {})
        assert response.status_code == 200
        body = response.json()
        assert ids(body["items"]) == [own["id"], shared["id"]]
        assert foreign["id"] not in ids(body["items"])
        assert body["next_cursor"] is None

    async def test_project_filter(self, client: httpx.AsyncClient, user: UserSession) -> None:
        project_id = await create_project(client, owner=user)
        inside = await create_task(client, user=user, project_id=project_id)
        await create_task(client, user=user)
        items = await list_all(client, user=user, params={"project_id": project_id})
        assert ids(items) == [inside["id"]]

    async def test_deleted_tasks_are_not_listed(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user)
        await client.delete(f"{API}/tasks/{task['id']}", headers=user.headers)
        assert await list_all(client, user=user, params={}) == []

    async def test_repeated_status_means_any(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        todo = await create_task(client, user=user)
        done = await create_task(client, user=user, status="done")
        await create_task(client, user=user, status="in_progress")
        items = await list_all(client, user=user, params=[("status", "todo"), ("status", "done")])
        assert set(ids(items)) == {todo["id"], done["id"]}

    async def test_repeated_priority_means_any(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        one = await create_task(client, user=user, priority=1)
        four = await create_task(client, user=user, priority=4)
        await create_task(client, user=user, priority=2)
        items = await list_all(client, user=user, params=[("priority", 1), ("priority", 4)])
        assert set(ids(items)) == {one["id"], four["id"]}

    async def test_tag_matches_any_case_insensitively(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        home = await create_task(client, user=user, tags=["Home"])
        work = await create_task(client, user=user, tags=["work", "x"])
        await create_task(client, user=user, tags=["other"])
        items = await list_all(client, user=user, params=[("tag", "HOME"), ("tag", "Work")])
        assert set(ids(items)) == {home["id"], work["id"]}

    async def test_different_filters_combine_with_and(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        both = await create_task(client, user=user, tags=["a"], status="done")
        await create_task(client, user=user, tags=["a"])
        await create_task(client, user=user, status="done")
        items = await list_all(client, user=user, params={"tag": "a", "status": "done"})
        assert ids(items) == [both["id"]]

    async def test_assignee_filter(self, client: httpx.AsyncClient, team: Team) -> None:
        mine = await create_task(
            client, user=team.owner, project_id=team.project_id, assignee_id=team.editor.id
        )
        await create_task(client, user=team.owner, project_id=team.project_id)
        items = await list_all(client, user=team.owner, params={"assignee_id": team.editor.id})
        assert ids(items) == [mine["id"]]

    async def test_parent_filter_and_top_level(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        parent = await create_task(client, user=user)
        child = await create_task(client, user=user, parent_id=parent["id"])
        assert ids(await list_all(client, user=user, params={"parent_id": parent["id"]})) == [
            child["id"]
        ]
        assert ids(await list_all(client, user=user, params={"parent_id": "null"})) == [
            parent["id"]
        ]

    async def test_due_after_inclusive_due_before_exclusive(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        at_start = await create_task(client, user=user, due_at="2030-01-01T00:00:00Z")
        dated = await create_task(client, user=user, due_date="2030-01-02")
        await create_task(client, user=user, due_at="2030-01-03T00:00:00Z")
        await create_task(client, user=user)
        items = await list_all(
            client,
            user=user,
            params={"due_after": "2030-01-01T00:00:00Z", "due_before": "2030-01-03T00:00:00Z"},
        )
        assert set(ids(items)) == {at_start["id"], dated["id"]}

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ("due_at", ["d1", "d2", "d3", "none"]),
            ("-due_at", ["d3", "d2", "d1", "none"]),
            ("priority", ["d3", "none", "d1", "d2"]),
            ("-priority", ["d2", "d1", "none", "d3"]),
            ("created_at", ["d2", "d1", "d3", "none"]),
            ("-created_at", ["none", "d3", "d1", "d2"]),
        ],
    )
    async def test_sorts_put_nulls_last(
        self, client: httpx.AsyncClient, user: UserSession, sort: str, expected: list[str]
    ) -> None:
        made = {
            "d2": await create_task(
                client, user=user, title="d2", due_date="2030-01-02", priority=4
            ),
            "d1": await create_task(
                client, user=user, title="d1", due_at="2030-01-01T05:00:00Z", priority=2
            ),
            "d3": await create_task(
                client, user=user, title="d3", due_at="2030-01-03T00:00:00+01:00", priority=0
            ),
            "none": await create_task(client, user=user, title="none", priority=1),
        }
        items = await list_all(client, user=user, params={"sort": sort, "limit": 1})
        assert [item["title"] for item in items] == expected
        assert len({item["id"] for item in items}) == len(made)

    async def test_updated_at_sort(self, client: httpx.AsyncClient, user: UserSession) -> None:
        first = await create_task(client, user=user)
        second = await create_task(client, user=user)
        await client.patch(
            f"{API}/tasks/{first['id']}",
            json={"version": 1, "title": "touched"},
            headers=user.headers,
        )
        items = await list_all(client, user=user, params={"sort": "-updated_at"})
        assert ids(items) == [first["id"], second["id"]]

    async def test_ties_are_broken_by_id(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        made = [await create_task(client, user=user, priority=2) for _ in range(5)]
        items = await list_all(client, user=user, params={"sort": "priority", "limit": 2})
        assert ids(items) == sorted(ids(made))
        items = await list_all(client, user=user, params={"sort": "-priority", "limit": 2})
        assert ids(items) == sorted(ids(made), reverse=True)

    async def test_pages_are_limited_and_chained(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        made = [await create_task(client, user=user) for _ in range(5)]
        first = (await list_page(client, user, {"limit": 2})).json()
        assert len(first["items"]) == 2
        assert first["next_cursor"]
        items = await list_all(client, user=user, params={"limit": 2})
        assert ids(items) == list(reversed(ids(made)))

    async def test_inserts_while_paging_cause_no_duplicate_or_miss(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        made = [await create_task(client, user=user) for _ in range(6)]
        first = (await list_page(client, user, {"limit": 3})).json()
        await create_task(client, user=user)
        second = (
            await list_page(client, user, {"limit": 3, "cursor": first["next_cursor"]})
        ).json()
        seen = ids(first["items"]) + ids(second["items"])
        assert seen == list(reversed(ids(made)))

    async def test_default_limit_is_50(
        self, client: httpx.AsyncClient, user: UserSession, database_url: str
    ) -> None:
        await create_task(client, user=user)
        await execute(
            database_url,
            "INSERT INTO tasks (id, project_id, title, created_by)"
            " SELECT gen_random_uuid(), project_id, 'bulk', created_by FROM tasks"
            " CROSS JOIN generate_series(1, 60) WHERE created_by = $1",
            uuid.UUID(user.id),
        )
        body = (await list_page(client, user, {})).json()
        assert len(body["items"]) == 50
        assert body["next_cursor"] is not None

    async def test_viewer_can_list(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await create_task(client, user=team.owner, project_id=team.project_id)
        items = await list_all(client, user=team.viewer, params={"project_id": team.project_id})
        assert ids(items) == [task["id"]]


class TestListTasksRejects:
    @pytest.mark.parametrize("limit", ["0", "201", "-1", "abc"])
    async def test_bad_limit(
        self, client: httpx.AsyncClient, user: UserSession, limit: str
    ) -> None:
        response = await list_page(client, user, {"limit": limit})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "limit"]

    @pytest.mark.parametrize("field", ["project_id", "assignee_id", "parent_id"])
    async def test_filter_that_is_not_a_uuid_is_422(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        response = await list_page(client, user, {field: "nope"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", field]

    @pytest.mark.parametrize("field", ["project_id", "assignee_id", "parent_id"])
    async def test_unknown_uuid_in_a_filter_is_404(
        self, client: httpx.AsyncClient, user: UserSession, field: str
    ) -> None:
        response = await list_page(client, user, {field: str(uuid.uuid4())})
        assert response.status_code == 404

    async def test_another_users_project_filter_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=other_user)
        assert (await list_page(client, user, {"project_id": project_id})).status_code == 404

    async def test_another_users_parent_filter_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        task = await create_task(client, user=other_user)
        assert (await list_page(client, user, {"parent_id": task["id"]})).status_code == 404

    async def test_another_users_assignee_filter_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        assert (await list_page(client, user, {"assignee_id": other_user.id})).status_code == 404

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("status", "open"),
            ("priority", "5"),
            ("priority", "x"),
            ("sort", "title"),
            ("due_before", "2030-01-01T00:00:00"),
            ("due_after", "soon"),
        ],
    )
    async def test_bad_filter_values(
        self, client: httpx.AsyncClient, user: UserSession, name: str, value: str
    ) -> None:
        response = await list_page(client, user, {name: value})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"][:2] == ["query", name]

    async def _cursor(self, client: httpx.AsyncClient, user: UserSession) -> str:
        for _ in range(3):
            await create_task(client, user=user, tags=["c"])
        cursor: str = (await list_page(client, user, {"limit": 1})).json()["next_cursor"]
        return cursor

    @pytest.mark.parametrize("mangle", ["tamper", "truncate", "garbage"])
    async def test_malformed_cursor(
        self, client: httpx.AsyncClient, user: UserSession, mangle: str
    ) -> None:
        cursor = await self._cursor(client, user)
        bad = {
            "tamper": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"),
            "truncate": cursor[: len(cursor) // 2],
            "garbage": "%%%not-a-cursor%%%",
        }[mangle]
        response = await list_page(client, user, {"limit": 1, "cursor": bad})
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    @pytest.mark.parametrize(
        "params", [{"sort": "created_at"}, {"tag": "c"}, {"status": "done"}, {"parent_id": "null"}]
    )
    async def test_cursor_with_other_sort_or_filters(
        self, client: httpx.AsyncClient, user: UserSession, params: dict[str, str]
    ) -> None:
        cursor = await self._cursor(client, user)
        response = await list_page(client, user, {"limit": 1, "cursor": cursor, **params})
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_cursor_with_another_limit_is_fine(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cursor = await self._cursor(client, user)
        response = await list_page(client, user, {"limit": 5, "cursor": cursor})
        assert response.status_code == 200
        assert len(response.json()["items"]) == 2

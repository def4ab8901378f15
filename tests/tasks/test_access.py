"""Who may do what on each task route: non-members, viewers, editors and the owner (API.md §1)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.tasks.conftest import Team
from tests.tasks.factories import API, create_task

Call = Callable[[httpx.AsyncClient, UserSession, dict[str, Any], Team], Awaitable[httpx.Response]]


async def get(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.get(f"{API}/tasks/{task['id']}", headers=user.headers)


async def history(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.get(f"{API}/tasks/{task['id']}/history", headers=user.headers)


async def list_by_project(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.get(
        f"{API}/tasks", params={"project_id": team.project_id}, headers=user.headers
    )


async def list_by_parent(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.get(f"{API}/tasks", params={"parent_id": task["id"]}, headers=user.headers)


async def patch(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.patch(
        f"{API}/tasks/{task['id']}",
        json={"version": task["version"], "title": "x"},
        headers=user.headers,
    )


async def delete(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.delete(f"{API}/tasks/{task['id']}", headers=user.headers)


async def restore(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    await client.delete(f"{API}/tasks/{task['id']}", headers=team.owner.headers)
    return await client.post(f"{API}/tasks/{task['id']}/restore", headers=user.headers)


async def create_in_project(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.post(
        f"{API}/tasks", json={"title": "t", "project_id": team.project_id}, headers=user.headers
    )


async def create_under_parent(
    client: httpx.AsyncClient, user: UserSession, task: dict[str, Any], team: Team
) -> httpx.Response:
    return await client.post(
        f"{API}/tasks",
        json={"title": "t", "project_id": team.project_id, "parent_id": task["id"]},
        headers=user.headers,
    )


READS: dict[str, Call] = {
    "get": get,
    "history": history,
    "list_by_project": list_by_project,
    "list_by_parent": list_by_parent,
}
WRITES: dict[str, Call] = {
    "patch": patch,
    "delete": delete,
    "restore": restore,
    "create_in_project": create_in_project,
    "create_under_parent": create_under_parent,
}
SUCCESS = {
    "patch": 200,
    "delete": 204,
    "restore": 200,
    "create_in_project": 201,
    "create_under_parent": 201,
}
# a non-member naming the project or task in the body gets 422 (body id), in the path 404
NON_MEMBER = {
    "patch": 404,
    "delete": 404,
    "restore": 404,
    "create_in_project": 422,
    "create_under_parent": 422,
}


async def team_task(client: httpx.AsyncClient, team: Team) -> dict[str, Any]:
    return await create_task(client, user=team.owner, project_id=team.project_id)


class TestTaskAccessMatrix:
    @pytest.mark.parametrize("route", READS)
    async def test_non_member_reads_are_404(
        self, client: httpx.AsyncClient, team: Team, route: str
    ) -> None:
        task = await team_task(client, team)
        response = await READS[route](client, team.outsider, task, team)
        assert response.status_code == 404, response.text

    @pytest.mark.parametrize("route", WRITES)
    async def test_non_member_writes_are_hidden(
        self, client: httpx.AsyncClient, team: Team, route: str
    ) -> None:
        task = await team_task(client, team)
        response = await WRITES[route](client, team.outsider, task, team)
        assert response.status_code == NON_MEMBER[route], response.text
        if NON_MEMBER[route] == 422:
            assert response.json()["errors"][0]["loc"][0] == "body"

    @pytest.mark.parametrize("role", ["viewer", "editor", "owner"])
    @pytest.mark.parametrize("route", READS)
    async def test_members_read(
        self, client: httpx.AsyncClient, team: Team, route: str, role: str
    ) -> None:
        task = await team_task(client, team)
        response = await READS[route](client, getattr(team, role), task, team)
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("route", WRITES)
    async def test_viewer_writes_are_403(
        self, client: httpx.AsyncClient, team: Team, route: str
    ) -> None:
        task = await team_task(client, team)
        response = await WRITES[route](client, team.viewer, task, team)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"

    @pytest.mark.parametrize("role", ["editor", "owner"])
    @pytest.mark.parametrize("route", WRITES)
    async def test_editor_and_owner_write(
        self, client: httpx.AsyncClient, team: Team, route: str, role: str
    ) -> None:
        task = await team_task(client, team)
        response = await WRITES[route](client, getattr(team, role), task, team)
        assert response.status_code == SUCCESS[route], response.text

    async def test_removed_member_loses_access(self, client: httpx.AsyncClient, team: Team) -> None:
        task = await team_task(client, team)
        response = await client.delete(
            f"{API}/projects/{team.project_id}/members/{team.editor.id}", headers=team.owner.headers
        )
        assert response.status_code == 204, response.text
        assert (await get(client, team.editor, task, team)).status_code == 404
        assert (await patch(client, team.editor, task, team)).status_code == 404

    async def test_unknown_task_ids_are_404_everywhere(
        self, client: httpx.AsyncClient, team: Team
    ) -> None:
        ghost = {"id": str(uuid.uuid4()), "version": 1}
        for route in ("get", "history"):
            assert (await READS[route](client, team.owner, ghost, team)).status_code == 404
        for route in ("patch", "delete"):
            assert (await WRITES[route](client, team.owner, ghost, team)).status_code == 404

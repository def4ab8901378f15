"""Every project route that takes an id, for a non-member, a viewer, an editor and the owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user
from tests.projects.factories import API, create_project, share


@dataclass
class Scene:
    project_id: str
    caller: UserSession
    target: UserSession  # an editor the member routes act on
    newcomer: UserSession  # not a member yet


Call = Callable[[httpx.AsyncClient, Scene], Awaitable[httpx.Response]]


def _url(scene: Scene, suffix: str = "") -> str:
    return f"{API}/projects/{scene.project_id}{suffix}"


async def _get(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.get(_url(s), headers=s.caller.headers)


async def _patch(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.patch(_url(s), json={"version": 1, "name": "N"}, headers=s.caller.headers)


async def _delete(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.delete(_url(s), headers=s.caller.headers)


async def _restore(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.post(_url(s, "/restore"), headers=s.caller.headers)


async def _list_members(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.get(_url(s, "/members"), headers=s.caller.headers)


async def _add_member(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.post(
        _url(s, "/members"),
        json={"email": s.newcomer.email, "role": "viewer"},
        headers=s.caller.headers,
    )


async def _change_role(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.patch(
        _url(s, f"/members/{s.target.id}"), json={"role": "viewer"}, headers=s.caller.headers
    )


async def _remove_member(client: httpx.AsyncClient, s: Scene) -> httpx.Response:
    return await client.delete(_url(s, f"/members/{s.target.id}"), headers=s.caller.headers)


ROLES = ("non-member", "viewer", "editor", "owner")
MATRIX: dict[str, tuple[Call, tuple[int, int, int, int]]] = {
    "GET /projects/{id}": (_get, (404, 200, 200, 200)),
    "PATCH /projects/{id}": (_patch, (404, 403, 200, 200)),
    "DELETE /projects/{id}": (_delete, (404, 403, 403, 204)),
    "POST /projects/{id}/restore": (_restore, (404, 403, 403, 200)),
    "GET /projects/{id}/members": (_list_members, (404, 200, 200, 200)),
    "POST /projects/{id}/members": (_add_member, (404, 403, 403, 201)),
    "PATCH /projects/{id}/members/{user_id}": (_change_role, (404, 403, 403, 200)),
    "DELETE /projects/{id}/members/{user_id}": (_remove_member, (404, 403, 403, 204)),
}
CASES = [
    pytest.param(route, role, expected[index], id=f"{route} as {role}")
    for route, (_, expected) in MATRIX.items()
    for index, role in enumerate(ROLES)
]


class TestAccessMatrix:
    @pytest.mark.parametrize(("route", "role", "expected"), CASES)
    async def test_route_answers_for_role(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        route: str,
        role: str,
        expected: int,
    ) -> None:
        project = await create_project(client, owner=user)
        target = await register_user(client)
        await share(client, owner=user, project_id=project["id"], member=target)
        if role == "owner":
            caller = user
        else:
            caller = await register_user(client)
            if role != "non-member":
                await share(client, owner=user, project_id=project["id"], member=caller, role=role)
        scene = Scene(project["id"], caller, target, await register_user(client))
        call, _ = MATRIX[route]
        response = await call(client, scene)
        assert response.status_code == expected, response.text
        if expected >= 400:
            problem_type = {403: "forbidden", 404: "not-found"}[expected]
            assert response.json()["type"] == f"/problems/{problem_type}"
            # a refused call changes nothing: the owner still sees the same project and members
            unchanged = await client.get(_url(scene), headers=user.headers)
            assert unchanged.json()["version"] == 1
            members = await client.get(_url(scene, "/members"), headers=user.headers)
            roles = {item["user"]["id"]: item["role"] for item in members.json()["items"]}
            assert roles.get(target.id) == "editor"
            assert scene.newcomer.id not in roles

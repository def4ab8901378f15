"""``GET /users/{id}``: the public profile of anyone who is or was a member of a visible project."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.projects.factories import API, create_project, share


async def _get_user(client: httpx.AsyncClient, caller: UserSession, user_id: str) -> httpx.Response:
    return await client.get(f"{API}/users/{user_id}", headers=caller.headers)


class TestGetUser:
    async def test_self_is_visible(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await _get_user(client, user, user.id)
        assert response.status_code == 200
        assert response.json() == {"id": user.id, "display_name": user.display_name}

    async def test_co_member_without_email(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role="viewer")
        as_owner = await _get_user(client, user, other_user.id)
        assert as_owner.status_code == 200
        assert as_owner.json() == {"id": other_user.id, "display_name": other_user.display_name}
        as_viewer = await _get_user(client, other_user, user.id)
        assert as_viewer.status_code == 200
        assert "email" not in as_viewer.json()

    async def test_former_member_stays_visible(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        removed = await client.delete(
            f"{API}/projects/{project['id']}/members/{other_user.id}", headers=user.headers
        )
        assert removed.status_code == 204
        response = await _get_user(client, user, other_user.id)
        assert response.status_code == 200

    async def test_removed_member_no_longer_sees_the_others(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(
            f"{API}/projects/{project['id']}/members/{other_user.id}", headers=user.headers
        )
        response = await _get_user(client, other_user, user.id)
        assert response.status_code == 404

    async def test_stranger_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        response = await _get_user(client, user, other_user.id)
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"

    async def test_co_member_of_deleted_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        assert (await _get_user(client, user, other_user.id)).status_code == 404
        assert (await _get_user(client, other_user, user.id)).status_code == 404

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await _get_user(client, user, str(uuid.uuid4()))
        assert response.status_code == 404

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "42", "%00"])
    async def test_non_uuid_id_is_404(
        self, client: httpx.AsyncClient, user: UserSession, bad_id: str
    ) -> None:
        response = await _get_user(client, user, bad_id)
        assert response.status_code == 404

    async def test_without_token_is_401(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.get(f"{API}/users/{user.id}")
        assert response.status_code == 401

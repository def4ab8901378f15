"""``/projects/{id}/members``: list, share, change role / transfer, remove and leave (API.md §3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user
from tests.projects.factories import API, create_project, inbox_of, share


def _members_path(project_id: str, user_id: str | None = None) -> str:
    path = f"{API}/projects/{project_id}/members"
    return path if user_id is None else f"{path}/{user_id}"


async def _members(
    client: httpx.AsyncClient, user: UserSession, project_id: str
) -> list[dict[str, Any]]:
    response = await client.get(_members_path(project_id), headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _roles(client: httpx.AsyncClient, user: UserSession, project_id: str) -> dict[str, str]:
    return {item["user"]["id"]: item["role"] for item in await _members(client, user, project_id)}


class TestListMembers:
    async def test_lists_owner_first_with_public_user_fields(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await share(client, owner=user, project_id=project["id"], member=third_user, role="viewer")
        items = await _members(client, third_user, project["id"])
        assert [(item["user"]["id"], item["role"]) for item in items] == [
            (user.id, "owner"),
            (other_user.id, "editor"),
            (third_user.id, "viewer"),
        ]
        assert items[0]["user"] == {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
        }
        assert set(items[0]) == {"user", "role", "added_at"}
        assert items[0]["added_at"].endswith("Z")

    async def test_excludes_removed_members(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(_members_path(project["id"], other_user.id), headers=user.headers)
        assert await _roles(client, user, project["id"]) == {user.id: "owner"}

    async def test_non_member_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.get(_members_path(project["id"]), headers=other_user.headers)
        assert response.status_code == 404

    async def test_non_uuid_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.get(_members_path("nope"), headers=user.headers)
        assert response.status_code == 404


class TestAddMember:
    async def test_adds_editor(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": other_user.email, "role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert body["user"] == {
            "id": other_user.id,
            "email": other_user.email,
            "display_name": other_user.display_name,
        }
        assert body["role"] == "editor"
        fetched = await client.get(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert fetched.status_code == 200
        assert fetched.json()["role"] == "editor"

    async def test_email_is_matched_case_insensitively(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": other_user.email.upper(), "role": "viewer"},
            headers=user.headers,
        )
        assert response.status_code == 201
        assert response.json()["user"]["id"] == other_user.id

    async def test_unknown_email_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"

    async def test_deactivated_account_email_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        leaver = await register_user(client)
        deleted = await client.request(
            "DELETE", f"{API}/users/me", json={"password": leaver.password}, headers=leaver.headers
        )
        assert deleted.status_code == 204
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": leaver.email, "role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 404

    async def test_already_a_member_is_409(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": other_user.email, "role": "viewer"},
            headers=user.headers,
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"
        assert await _roles(client, user, project["id"]) == {
            user.id: "owner",
            other_user.id: "editor",
        }

    async def test_adding_the_owner_is_409(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": user.email, "role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 409

    async def test_readding_removed_member_reactivates(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(_members_path(project["id"], other_user.id), headers=user.headers)
        again = await share(
            client, owner=user, project_id=project["id"], member=other_user, role="viewer"
        )
        assert again["role"] == "viewer"
        assert await _roles(client, user, project["id"]) == {
            user.id: "owner",
            other_user.id: "viewer",
        }
        fetched = await client.get(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert fetched.json()["role"] == "viewer"

    async def test_inbox_cannot_be_shared(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        inbox = await inbox_of(client, user=user)
        response = await client.post(
            _members_path(inbox["id"]),
            json={"email": other_user.email, "role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_non_owner_is_403(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
        role: str,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": third_user.email, "role": "viewer"},
            headers=other_user.headers,
        )
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/forbidden"

    async def test_non_member_is_404(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            _members_path(project["id"]),
            json={"email": third_user.email, "role": "viewer"},
            headers=other_user.headers,
        )
        assert response.status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            {"role": "editor"},
            {"email": "x@example.com"},
            {"email": "not-an-email", "role": "editor"},
            {"email": "x@example.com", "role": "owner"},
            {"email": "x@example.com", "role": "admin"},
            {"email": "x@example.com", "role": "editor", "user_id": str(uuid.uuid4())},
            {"email": None, "role": "editor"},
        ],
    )
    async def test_invalid_body_is_422(
        self, client: httpx.AsyncClient, user: UserSession, body: dict[str, Any]
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(_members_path(project["id"]), json=body, headers=user.headers)
        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation"

    async def test_idempotency_key_replays(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        headers = {**user.headers, "Idempotency-Key": f"m-{uuid.uuid4()}"}
        body = {"email": other_user.email, "role": "editor"}
        first = await client.post(_members_path(project["id"]), json=body, headers=headers)
        second = await client.post(_members_path(project["id"]), json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"

    async def test_idempotency_key_with_another_body_is_422(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        headers = {**user.headers, "Idempotency-Key": f"m-{uuid.uuid4()}"}
        first = await client.post(
            _members_path(project["id"]),
            json={"email": other_user.email, "role": "editor"},
            headers=headers,
        )
        assert first.status_code == 201
        second = await client.post(
            _members_path(project["id"]),
            json={"email": third_user.email, "role": "editor"},
            headers=headers,
        )
        assert second.status_code == 422
        assert second.json()["type"] == "/problems/idempotency-key-reused"
        assert third_user.id not in await _roles(client, user, project["id"])


class TestChangeMemberRole:
    async def test_changes_role(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.patch(
            _members_path(project["id"], other_user.id),
            json={"role": "viewer"},
            headers=user.headers,
        )
        assert response.status_code == 200
        assert response.json()["role"] == "viewer"
        assert response.json()["user"]["id"] == other_user.id
        denied = await client.patch(
            f"{API}/projects/{project['id']}",
            json={"version": 1, "name": "X"},
            headers=other_user.headers,
        )
        assert denied.status_code == 403

    async def test_same_role_is_unchanged(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        added = await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.patch(
            _members_path(project["id"], other_user.id),
            json={"role": "editor"},
            headers=user.headers,
        )
        assert response.status_code == 200
        assert response.json() == added

    async def test_owner_transfers_ownership(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.patch(
            _members_path(project["id"], other_user.id),
            json={"role": "owner"},
            headers=user.headers,
        )
        assert response.status_code == 200
        assert response.json()["role"] == "owner"
        assert await _roles(client, user, project["id"]) == {
            user.id: "editor",
            other_user.id: "owner",
        }
        mine = (await client.get(f"{API}/projects/{project['id']}", headers=user.headers)).json()
        assert mine["role"] == "editor"
        assert mine["version"] == 2
        # the former owner lost the owner's rights, the new one has them
        denied = await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        assert denied.status_code == 403
        allowed = await client.delete(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert allowed.status_code == 204

    async def test_former_owner_may_leave_after_transfer(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.patch(
            _members_path(project["id"], other_user.id),
            json={"role": "owner"},
            headers=user.headers,
        )
        response = await client.delete(_members_path(project["id"], user.id), headers=user.headers)
        assert response.status_code == 204
        deleted = await client.request(
            "DELETE", f"{API}/users/me", json={"password": user.password}, headers=user.headers
        )
        assert deleted.status_code == 204

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_owner_cannot_demote_itself(
        self, client: httpx.AsyncClient, user: UserSession, role: str
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.patch(
            _members_path(project["id"], user.id), json={"role": role}, headers=user.headers
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    async def test_owner_setting_itself_owner_is_unchanged(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.patch(
            _members_path(project["id"], user.id), json={"role": "owner"}, headers=user.headers
        )
        assert response.status_code == 200
        assert response.json()["role"] == "owner"

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_non_owner_is_403(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
        role: str,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        await share(client, owner=user, project_id=project["id"], member=third_user)
        for target in (third_user.id, other_user.id, user.id):
            response = await client.patch(
                _members_path(project["id"], target),
                json={"role": "owner"},
                headers=other_user.headers,
            )
            assert response.status_code == 403

    async def test_unknown_or_removed_member_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(_members_path(project["id"], other_user.id), headers=user.headers)
        for target in (other_user.id, str(uuid.uuid4()), "not-a-uuid"):
            response = await client.patch(
                _members_path(project["id"], target), json={"role": "viewer"}, headers=user.headers
            )
            assert response.status_code == 404, target

    @pytest.mark.parametrize(
        "body", [{}, {"role": "admin"}, {"role": None}, {"role": "viewer", "email": "x@y.z"}]
    )
    async def test_invalid_body_is_422(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        body: dict[str, Any],
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.patch(
            _members_path(project["id"], other_user.id), json=body, headers=user.headers
        )
        assert response.status_code == 422


class TestRemoveMember:
    async def test_owner_removes_member(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.delete(
            _members_path(project["id"], other_user.id), headers=user.headers
        )
        assert response.status_code == 204
        gone = await client.get(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert gone.status_code == 404

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_member_leaves(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession, role: str
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        response = await client.delete(
            _members_path(project["id"], other_user.id), headers=other_user.headers
        )
        assert response.status_code == 204
        assert await _roles(client, user, project["id"]) == {user.id: "owner"}

    async def test_owner_cannot_leave(self, client: httpx.AsyncClient, user: UserSession) -> None:
        project = await create_project(client, owner=user)
        response = await client.delete(_members_path(project["id"], user.id), headers=user.headers)
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_member_cannot_remove_others(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
        role: str,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        await share(client, owner=user, project_id=project["id"], member=third_user)
        for target in (third_user.id, user.id):
            response = await client.delete(
                _members_path(project["id"], target), headers=other_user.headers
            )
            assert response.status_code == 403

    async def test_non_member_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.delete(
            _members_path(project["id"], other_user.id), headers=other_user.headers
        )
        assert response.status_code == 404

    async def test_unknown_or_removed_member_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        first = await client.delete(
            _members_path(project["id"], other_user.id), headers=user.headers
        )
        assert first.status_code == 204
        for target in (other_user.id, str(uuid.uuid4()), "0"):
            response = await client.delete(
                _members_path(project["id"], target), headers=user.headers
            )
            assert response.status_code == 404, target

    async def test_removed_members_assignments_are_cleared(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        created = await client.post(
            f"{API}/tasks",
            json={"project_id": project["id"], "title": "Dig", "assignee_id": other_user.id},
            headers=user.headers,
        )
        assert created.status_code == 201, created.text
        task = created.json()
        assert task["assignee_id"] == other_user.id
        await client.delete(_members_path(project["id"], other_user.id), headers=user.headers)
        after = await client.get(f"{API}/tasks/{task['id']}", headers=user.headers)
        assert after.json()["assignee_id"] is None
        assert after.json()["version"] == task["version"] + 1


class TestConcurrentMembershipChanges:
    async def test_same_member_added_twice_at_once_is_added_once(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        body = {"email": other_user.email, "role": "editor"}
        responses = await asyncio.gather(
            *(
                client.post(_members_path(project["id"]), json=body, headers=user.headers)
                for _ in range(4)
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
        assert await _roles(client, user, project["id"]) == {
            user.id: "owner",
            other_user.id: "editor",
        }

    async def test_transfers_to_two_members_at_once_leave_one_owner(
        self,
        client: httpx.AsyncClient,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        for member in (other_user, third_user):
            await share(client, owner=user, project_id=project["id"], member=member)
        responses = await asyncio.gather(
            *(
                client.patch(
                    _members_path(project["id"], member.id),
                    json={"role": "owner"},
                    headers=user.headers,
                )
                for member in (other_user, third_user)
            )
        )
        assert sorted(r.status_code for r in responses) == [200, 403]
        roles = await _roles(client, user, project["id"])
        assert sorted(roles.values()) == ["editor", "editor", "owner"]

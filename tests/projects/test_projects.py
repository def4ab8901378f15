"""``/projects``: create, list, get, patch, delete and restore (API.md §3)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user
from tests.projects.factories import API, create_project, inbox_of, share

PROJECT_FIELDS = {
    "id",
    "name",
    "description",
    "is_inbox",
    "role",
    "created_at",
    "updated_at",
    "version",
}


async def _patch(
    client: httpx.AsyncClient,
    user: UserSession,
    project_id: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.patch(
        f"{API}/projects/{project_id}", json=body, headers={**user.headers, **(headers or {})}
    )


class TestCreateProject:
    async def test_creates_owned_project_with_location_and_etag(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            f"{API}/projects",
            json={"name": "  Garden  ", "description": "Beds and bulbs"},
            headers=user.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == PROJECT_FIELDS
        assert body["name"] == "Garden"
        assert body["description"] == "Beds and bulbs"
        assert body["is_inbox"] is False
        assert body["role"] == "owner"
        assert body["version"] == 1
        assert body["created_at"].endswith("Z")
        assert response.headers["location"] == f"{API}/projects/{body['id']}"
        assert response.headers["etag"] == '"1"'
        fetched = await client.get(response.headers["location"], headers=user.headers)
        assert fetched.json() == body

    async def test_description_defaults_to_empty(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="Plain")
        assert project["description"] == ""

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 201},
            {"name": None},
            {"name": 5},
            {"name": "ok", "description": "d" * 5001},
            {"name": "bad\x00name"},
            {"name": "ok", "is_inbox": True},
            {"name": "ok", "id": str(uuid.uuid4())},
            {"name": "ok", "version": 1},
            {"name": "ok", "role": "owner"},
            {"name": "ok", "colour": "red"},
        ],
    )
    async def test_invalid_body_is_422(
        self, client: httpx.AsyncClient, user: UserSession, body: dict[str, Any]
    ) -> None:
        response = await client.post(f"{API}/projects", json=body, headers=user.headers)
        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation"

    async def test_name_of_200_chars_and_description_of_5000_are_accepted(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="n" * 200, description="d" * 5000)
        assert len(project["name"]) == 200

    async def test_malformed_json_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            f"{API}/projects",
            content=b"{",
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400

    async def test_without_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{API}/projects", json={"name": "x"})
        assert response.status_code == 401

    async def test_idempotency_key_replays_first_response(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        headers = {**user.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
        first = await client.post(f"{API}/projects", json={"name": "Once"}, headers=headers)
        second = await client.post(f"{API}/projects", json={"name": "Once"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["location"] == first.headers["location"]
        assert second.headers["etag"] == first.headers["etag"]
        assert second.headers["idempotent-replayed"] == "true"
        listed = await client.get(f"{API}/projects", headers=user.headers)
        assert [p["name"] for p in listed.json()["items"]].count("Once") == 1

    async def test_idempotency_key_with_another_body_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        headers = {**user.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
        first = await client.post(f"{API}/projects", json={"name": "One"}, headers=headers)
        assert first.status_code == 201
        second = await client.post(f"{API}/projects", json={"name": "Two"}, headers=headers)
        assert second.status_code == 422
        assert second.json()["type"] == "/problems/idempotency-key-reused"

    async def test_idempotency_key_is_per_user(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        key = f"k-{uuid.uuid4()}"
        first = await client.post(
            f"{API}/projects",
            json={"name": "Mine"},
            headers={**user.headers, "Idempotency-Key": key},
        )
        second = await client.post(
            f"{API}/projects",
            json={"name": "Mine"},
            headers={**other_user.headers, "Idempotency-Key": key},
        )
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]
        assert "idempotent-replayed" not in second.headers


class TestListProjects:
    async def test_inbox_first_then_oldest_first(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        a = await create_project(client, owner=user, name="A")
        b = await create_project(client, owner=user, name="B")
        response = await client.get(f"{API}/projects", headers=user.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None
        names = [item["name"] for item in body["items"]]
        assert names == ["Inbox", "A", "B"]
        assert body["items"][0]["is_inbox"] is True
        assert [item["id"] for item in body["items"][1:]] == [a["id"], b["id"]]
        assert all(item["role"] == "owner" for item in body["items"])

    async def test_includes_shared_projects_with_callers_role(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        theirs = await create_project(client, owner=other_user, name="Theirs")
        await share(client, owner=other_user, project_id=theirs["id"], member=user, role="viewer")
        items = (await client.get(f"{API}/projects", headers=user.headers)).json()["items"]
        assert [(item["name"], item["role"]) for item in items] == [
            ("Inbox", "owner"),
            ("Theirs", "viewer"),
        ]

    async def test_excludes_deleted_and_unshared_projects(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        gone = await create_project(client, owner=user, name="Gone")
        await create_project(client, owner=other_user, name="Not mine")
        deleted = await client.delete(f"{API}/projects/{gone['id']}", headers=user.headers)
        assert deleted.status_code == 204
        items = (await client.get(f"{API}/projects", headers=user.headers)).json()["items"]
        assert [item["name"] for item in items] == ["Inbox"]

    async def test_pages_with_cursor(self, client: httpx.AsyncClient, user: UserSession) -> None:
        created = [await create_project(client, owner=user, name=f"P{i}") for i in range(5)]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            response = await client.get(f"{API}/projects", params=params, headers=user.headers)
            assert response.status_code == 200
            body = response.json()
            assert len(body["items"]) <= 2
            seen.extend(item["id"] for item in body["items"])
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        inbox = await inbox_of(client, user=user)
        assert seen == [inbox["id"], *[p["id"] for p in created]]

    async def test_projects_created_while_paging_cause_no_duplicate_or_miss(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        before = [await create_project(client, owner=user, name=f"B{i}") for i in range(3)]
        first = (
            await client.get(f"{API}/projects", params={"limit": 2}, headers=user.headers)
        ).json()
        late = await create_project(client, owner=user, name="Late")
        rest: list[str] = []
        cursor = first["next_cursor"]
        while cursor:
            page = (
                await client.get(
                    f"{API}/projects", params={"limit": 2, "cursor": cursor}, headers=user.headers
                )
            ).json()
            rest.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
        seen = [item["id"] for item in first["items"]] + rest
        assert len(seen) == len(set(seen))
        assert set(seen) >= {p["id"] for p in before}
        assert seen[-1] == late["id"]

    @pytest.mark.parametrize("limit", [0, 201, -1, "x"])
    async def test_limit_out_of_range_is_422(
        self, client: httpx.AsyncClient, user: UserSession, limit: object
    ) -> None:
        response = await client.get(
            f"{API}/projects", params={"limit": limit}, headers=user.headers
        )
        assert response.status_code == 422

    async def test_limit_200_is_accepted(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.get(f"{API}/projects", params={"limit": 200}, headers=user.headers)
        assert response.status_code == 200

    @pytest.mark.parametrize("cursor", ["garbage", "AAAA", "x" * 3000, "é"])
    async def test_malformed_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession, cursor: str
    ) -> None:
        response = await client.get(
            f"{API}/projects", params={"cursor": cursor}, headers=user.headers
        )
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_tampered_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_project(client, owner=user)
        cursor = (
            await client.get(f"{API}/projects", params={"limit": 1}, headers=user.headers)
        ).json()["next_cursor"]
        tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        response = await client.get(
            f"{API}/projects", params={"cursor": tampered}, headers=user.headers
        )
        assert response.status_code == 400

    async def test_cursor_of_another_user_is_400(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        await create_project(client, owner=user)
        cursor = (
            await client.get(f"{API}/projects", params={"limit": 1}, headers=user.headers)
        ).json()["next_cursor"]
        response = await client.get(
            f"{API}/projects", params={"cursor": cursor}, headers=other_user.headers
        )
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_cursor_of_another_list_is_400(
        self, client: httpx.AsyncClient, app: Any, user: UserSession
    ) -> None:
        from taskapi.kit.cursors import CursorCodec

        foreign = CursorCodec(app.state.settings.resolved_secret_key(), purpose="tasks").encode(
            [user.id, True, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]
        )
        response = await client.get(
            f"{API}/projects", params={"cursor": foreign}, headers=user.headers
        )
        assert response.status_code == 400

    async def test_signed_cursor_with_bad_payload_is_400(
        self, client: httpx.AsyncClient, app: Any, user: UserSession
    ) -> None:
        from taskapi.kit.cursors import CursorCodec

        codec = CursorCodec(app.state.settings.resolved_secret_key(), purpose="projects")
        for payload in ([user.id, True, "not a date", str(uuid.uuid4())], {"a": 1}, [user.id]):
            response = await client.get(
                f"{API}/projects", params={"cursor": codec.encode(payload)}, headers=user.headers
            )
            assert response.status_code == 400, payload


class TestGetProject:
    async def test_returns_project_with_etag(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.get(f"{API}/projects/{project['id']}", headers=user.headers)
        assert response.status_code == 200
        assert response.json() == project
        assert response.headers["etag"] == '"1"'
        assert response.headers["cache-control"] == "no-store"

    async def test_if_none_match_current_is_304(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.get(
            f"{API}/projects/{project['id']}", headers={**user.headers, "If-None-Match": '"1"'}
        )
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == '"1"'

    async def test_if_none_match_stale_is_200(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await _patch(client, user, project["id"], {"version": 1, "name": "New"})
        response = await client.get(
            f"{API}/projects/{project['id']}", headers={**user.headers, "If-None-Match": '"1"'}
        )
        assert response.status_code == 200
        assert response.json()["name"] == "New"

    async def test_role_is_the_callers(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role="viewer")
        response = await client.get(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert response.json()["role"] == "viewer"

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.get(f"{API}/projects/{uuid.uuid4()}", headers=user.headers)
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%27%20OR%201%3D1"])
    async def test_non_uuid_id_is_404(
        self, client: httpx.AsyncClient, user: UserSession, bad_id: str
    ) -> None:
        response = await client.get(f"{API}/projects/{bad_id}", headers=user.headers)
        assert response.status_code == 404

    async def test_deleted_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        response = await client.get(f"{API}/projects/{project['id']}", headers=user.headers)
        assert response.status_code == 404


class TestPatchProject:
    async def test_renames_and_bumps_version(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, description="old")
        response = await _patch(
            client, user, project["id"], {"version": 1, "name": " Renamed ", "description": "new"}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Renamed"
        assert body["description"] == "new"
        assert body["version"] == 2
        assert body["role"] == "owner"
        assert response.headers["etag"] == '"2"'

    async def test_editor_may_patch(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await _patch(client, other_user, project["id"], {"version": 1, "name": "E"})
        assert response.status_code == 200
        assert response.json()["role"] == "editor"

    async def test_viewer_is_403(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role="viewer")
        response = await _patch(client, other_user, project["id"], {"version": 1, "name": "V"})
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/forbidden"

    async def test_if_match_works_instead_of_body_version(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(client, user, project["id"], {"name": "M"}, {"If-Match": '"1"'})
        assert response.status_code == 200
        assert response.json()["version"] == 2

    async def test_merge_patch_content_type_is_accepted(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.patch(
            f"{API}/projects/{project['id']}",
            content=b'{"version": 1, "name": "Merged"}',
            headers={**user.headers, "Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200
        assert response.json()["name"] == "Merged"

    async def test_stale_version_returns_current(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await _patch(client, user, project["id"], {"version": 1, "name": "Two"})
        response = await _patch(client, user, project["id"], {"version": 1, "name": "Three"})
        assert response.status_code == 409
        problem = response.json()
        assert problem["type"] == "/problems/version-conflict"
        assert problem["current"]["name"] == "Two"
        assert problem["current"]["version"] == 2
        assert problem["current"]["role"] == "owner"
        assert response.headers["etag"] == '"2"'

    async def test_stale_if_match_is_412(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await _patch(client, user, project["id"], {"version": 1, "name": "Two"})
        response = await _patch(client, user, project["id"], {"name": "X"}, {"If-Match": '"1"'})
        assert response.status_code == 412
        assert response.json()["current"]["version"] == 2
        assert response.headers["etag"] == '"2"'

    async def test_no_version_is_428(self, client: httpx.AsyncClient, user: UserSession) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(client, user, project["id"], {"name": "X"})
        assert response.status_code == 428
        assert response.json()["type"] == "/problems/precondition-required"

    async def test_version_and_if_match_disagreeing_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(
            client, user, project["id"], {"version": 1, "name": "X"}, {"If-Match": '"2"'}
        )
        assert response.status_code == 422

    async def test_no_op_patch_keeps_version(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="Same", description="d")
        response = await _patch(
            client, user, project["id"], {"version": 1, "name": "Same", "description": "d"}
        )
        assert response.status_code == 200
        assert response.json()["version"] == 1
        assert response.json()["updated_at"] == project["updated_at"]

    async def test_description_null_clears_it(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, description="something")
        response = await _patch(client, user, project["id"], {"version": 1, "description": None})
        assert response.status_code == 200
        assert response.json()["description"] == ""

    async def test_inbox_rename_is_409(self, client: httpx.AsyncClient, user: UserSession) -> None:
        inbox = await inbox_of(client, user=user)
        response = await _patch(
            client, user, inbox["id"], {"version": inbox["version"], "name": "Outbox"}
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    async def test_inbox_description_may_change(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        inbox = await inbox_of(client, user=user)
        response = await _patch(
            client, user, inbox["id"], {"version": inbox["version"], "description": "Catch-all"}
        )
        assert response.status_code == 200
        assert response.json()["name"] == "Inbox"

    @pytest.mark.parametrize(
        "body",
        [
            {"version": 1, "name": None},
            {"version": 1, "name": ""},
            {"version": 1, "name": "x" * 201},
            {"version": 1, "description": "d" * 5001},
            {"version": 1, "is_inbox": True},
            {"version": 1, "created_at": "2026-01-01T00:00:00Z"},
            {"version": 1, "role": "owner"},
            {"version": 1, "id": "00000000-0000-0000-0000-000000000000"},
            {"version": 1, "owner_id": "00000000-0000-0000-0000-000000000000"},
            {"version": "1", "name": "x"},
            {"version": 0, "name": "x"},
            {"version": True, "name": "x"},
            {"version": 1, "bogus": 1},
        ],
    )
    async def test_invalid_body_is_422(
        self, client: httpx.AsyncClient, user: UserSession, body: dict[str, Any]
    ) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(client, user, project["id"], body)
        assert response.status_code == 422

    async def test_non_member_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(client, other_user, project["id"], {"version": 1, "name": "X"})
        assert response.status_code == 404

    async def test_non_member_without_version_is_404_not_428(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await _patch(client, other_user, project["id"], {"name": "X"})
        assert response.status_code == 404

    async def test_deleted_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        response = await _patch(client, user, project["id"], {"version": 2, "name": "X"})
        assert response.status_code == 404


class TestDeleteProject:
    async def test_soft_deletes(self, client: httpx.AsyncClient, user: UserSession) -> None:
        project = await create_project(client, owner=user)
        response = await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        assert response.status_code == 204
        assert response.content == b""
        gone = await client.get(f"{API}/projects/{project['id']}", headers=user.headers)
        assert gone.status_code == 404

    async def test_deleting_again_is_204_for_owner(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        again = await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        assert again.status_code == 204
        restored = await client.post(
            f"{API}/projects/{project['id']}/restore", headers=user.headers
        )
        assert restored.json()["version"] == 3  # created 1, deleted 2, restored 3

    async def test_deleted_project_is_404_for_former_members(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        response = await client.delete(
            f"{API}/projects/{project['id']}", headers=other_user.headers
        )
        assert response.status_code == 404

    async def test_inbox_is_409(self, client: httpx.AsyncClient, user: UserSession) -> None:
        inbox = await inbox_of(client, user=user)
        response = await client.delete(f"{API}/projects/{inbox['id']}", headers=user.headers)
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/conflict"

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_non_owner_member_is_403(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession, role: str
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        response = await client.delete(
            f"{API}/projects/{project['id']}", headers=other_user.headers
        )
        assert response.status_code == 403

    async def test_stale_if_match_is_412(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await _patch(client, user, project["id"], {"version": 1, "name": "Two"})
        response = await client.delete(
            f"{API}/projects/{project['id']}", headers={**user.headers, "If-Match": '"1"'}
        )
        assert response.status_code == 412
        still = await client.get(f"{API}/projects/{project['id']}", headers=user.headers)
        assert still.status_code == 200

    async def test_current_if_match_deletes(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.delete(
            f"{API}/projects/{project['id']}", headers={**user.headers, "If-Match": '"1"'}
        )
        assert response.status_code == 204

    async def test_members_lose_access_at_once(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        for path in ("", "/members"):
            response = await client.get(
                f"{API}/projects/{project['id']}{path}", headers=other_user.headers
            )
            assert response.status_code == 404
        items = (await client.get(f"{API}/projects", headers=other_user.headers)).json()["items"]
        assert project["id"] not in {item["id"] for item in items}

    async def test_tasks_of_deleted_project_are_404_until_restored(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        created = await client.post(
            f"{API}/tasks",
            json={"project_id": project["id"], "title": "Prune"},
            headers=user.headers,
        )
        assert created.status_code == 201, created.text
        task_url = f"{API}/tasks/{created.json()['id']}"
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        assert (await client.get(task_url, headers=user.headers)).status_code == 404
        await client.post(f"{API}/projects/{project['id']}/restore", headers=user.headers)
        assert (await client.get(task_url, headers=user.headers)).status_code == 200


class TestRestoreProject:
    async def test_restores_deleted_project(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        response = await client.post(
            f"{API}/projects/{project['id']}/restore", headers=user.headers
        )
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == project["id"]
        assert body["role"] == "owner"
        assert body["version"] == 3
        assert response.headers["etag"] == '"3"'
        shared = await client.get(f"{API}/projects/{project['id']}", headers=other_user.headers)
        assert shared.status_code == 200
        assert shared.json()["role"] == "editor"

    async def test_live_project_is_returned_unchanged(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        response = await client.post(
            f"{API}/projects/{project['id']}/restore", headers=user.headers
        )
        assert response.status_code == 200
        assert response.json() == project

    async def test_deleted_project_of_another_owner_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        response = await client.post(
            f"{API}/projects/{project['id']}/restore", headers=other_user.headers
        )
        assert response.status_code == 404

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_live_project_non_owner_is_403(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession, role: str
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role=role)
        response = await client.post(
            f"{API}/projects/{project['id']}/restore", headers=other_user.headers
        )
        assert response.status_code == 403

    async def test_unknown_is_404(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.post(f"{API}/projects/{uuid.uuid4()}/restore", headers=user.headers)
        assert response.status_code == 404


class TestDepartingOwner:
    async def test_account_deletion_still_removes_unshared_projects(
        self, client: httpx.AsyncClient
    ) -> None:
        leaver = await register_user(client)
        await create_project(client, owner=leaver, name="Solo")
        response = await client.request(
            "DELETE", f"{API}/users/me", json={"password": leaver.password}, headers=leaver.headers
        )
        assert response.status_code == 204

    async def test_owner_of_shared_project_cannot_delete_account(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.request(
            "DELETE", f"{API}/users/me", json={"password": user.password}, headers=user.headers
        )
        assert response.status_code == 409

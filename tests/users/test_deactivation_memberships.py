"""Deactivating an account ends its memberships in other people's projects."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import UserSession


class TestDeleteMeLeavesSharedProjects:
    async def test_memberships_end_and_assignments_clear(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await client.post("/api/v1/projects", json={"name": "Team"}, headers=user.headers)
        project_id = project.json()["id"]
        added = await client.post(
            f"/api/v1/projects/{project_id}/members",
            json={"email": other_user.email, "role": "editor"},
            headers=user.headers,
        )
        assert added.status_code == 201
        task = await client.post(
            "/api/v1/tasks",
            json={"project_id": project_id, "title": "Mine", "assignee_id": other_user.id},
            headers=user.headers,
        )
        assert task.status_code == 201

        gone = await client.request(
            "DELETE",
            "/api/v1/users/me",
            json={"password": other_user.password},
            headers=other_user.headers,
        )
        assert gone.status_code == 204

        members = await client.get(f"/api/v1/projects/{project_id}/members", headers=user.headers)
        assert [item["user"]["id"] for item in members.json()["items"]] == [user.id]
        after = await client.get(f"/api/v1/tasks/{task.json()['id']}", headers=user.headers)
        assert after.json()["assignee_id"] is None
        assert after.json()["version"] == 2

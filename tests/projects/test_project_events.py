"""The events that project and membership changes write (API.md §6), read back from the log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from taskapi.events.reader import Event
from tests.fixtures.factories import UserSession
from tests.projects.factories import API, create_project, events_seen_by, of_type, share

PROJECT_DATA_FIELDS = {
    "id",
    "name",
    "description",
    "is_inbox",
    "created_at",
    "updated_at",
    "version",
}
TOMBSTONE_FIELDS = {"id", "project_id", "version", "deleted_at"}


def _for(events: list[Event], project_id: str) -> list[Event]:
    return [event for event in events if str(event.project_id) == project_id]


def _one(events: list[Event], type_: str, **where: Any) -> Event:
    found = [
        event
        for event in of_type(events, type_)
        if all(str(getattr(event, name)) == str(value) for name, value in where.items())
    ]
    assert len(found) == 1, (type_, where, found)
    return found[0]


async def _remove(
    client: httpx.AsyncClient, owner: UserSession, project_id: str, member: UserSession
) -> None:
    response = await client.delete(
        f"{API}/projects/{project_id}/members/{member.id}", headers=owner.headers
    )
    assert response.status_code == 204


class TestProjectEvents:
    async def test_create_writes_project_created_without_role(
        self, client: httpx.AsyncClient, app: FastAPI, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="Log me")
        events = _for(
            await events_seen_by(app, user=user, until=("project.created", project["id"])),
            project["id"],
        )
        created = _one(events, "project.created")
        assert created.entity == "project"
        assert str(created.entity_id) == project["id"]
        assert created.version == 1
        assert str(created.actor_id) == user.id
        assert created.target_user_id is None
        assert set(created.data) == PROJECT_DATA_FIELDS
        assert created.data == {k: v for k, v in project.items() if k != "role"}

    async def test_idempotent_replay_writes_one_event(
        self, client: httpx.AsyncClient, app: FastAPI, user: UserSession
    ) -> None:
        headers = {**user.headers, "Idempotency-Key": f"e-{uuid.uuid4()}"}
        first = await client.post(f"{API}/projects", json={"name": "Once"}, headers=headers)
        await client.post(f"{API}/projects", json={"name": "Once"}, headers=headers)
        project_id = first.json()["id"]
        events = await events_seen_by(app, user=user, until=("project.created", project_id))
        assert len(of_type(_for(events, project_id), "project.created")) == 1

    async def test_patch_writes_project_updated_with_changes(
        self, client: httpx.AsyncClient, app: FastAPI, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="Old")
        response = await client.patch(
            f"{API}/projects/{project['id']}",
            json={"version": 1, "name": "New"},
            headers=user.headers,
        )
        assert response.status_code == 200
        events = _for(
            await events_seen_by(app, user=user, until=("project.updated", project["id"])),
            project["id"],
        )
        updated = _one(events, "project.updated")
        assert updated.version == 2
        assert updated.data["name"] == "New"
        assert "role" not in updated.data
        assert updated.changes == {"name": {"before": "Old", "after": "New"}}

    async def test_no_op_patch_writes_no_event(
        self, client: httpx.AsyncClient, app: FastAPI, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user, name="Same")
        await client.patch(
            f"{API}/projects/{project['id']}",
            json={"version": 1, "name": "Same"},
            headers=user.headers,
        )
        marker = await create_project(client, owner=user)  # a later event to wait for
        events = await events_seen_by(app, user=user, until=("project.created", marker["id"]))
        assert [e.type for e in _for(events, project["id"])] == ["project.created"]

    async def test_delete_writes_tombstone_and_revokes_every_member(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
        third_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await share(client, owner=user, project_id=project["id"], member=third_user, role="viewer")
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        for member in (user, other_user, third_user):
            events = _for(
                await events_seen_by(
                    app, user=member, until=("project.access_revoked", project["id"])
                ),
                project["id"],
            )
            deleted = _one(events, "project.deleted")
            assert deleted.version == 2
            assert set(deleted.data) == TOMBSTONE_FIELDS
            assert deleted.data["id"] == deleted.data["project_id"] == project["id"]
            revoked = _one(events, "project.access_revoked")
            assert str(revoked.target_user_id) == member.id
            assert revoked.data == {"id": project["id"], "project_id": project["id"], "version": 2}
            assert revoked.version == 2

    async def test_deleting_again_writes_nothing(
        self, client: httpx.AsyncClient, app: FastAPI, user: UserSession
    ) -> None:
        project = await create_project(client, owner=user)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        marker = await create_project(client, owner=user)
        events = await events_seen_by(app, user=user, until=("project.created", marker["id"]))
        assert len(of_type(_for(events, project["id"]), "project.deleted")) == 1

    async def test_restore_writes_restored_and_grants_each_member_its_role(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role="viewer")
        await client.delete(f"{API}/projects/{project['id']}", headers=user.headers)
        await client.post(f"{API}/projects/{project['id']}/restore", headers=user.headers)
        for member, role in ((user, "owner"), (other_user, "viewer")):
            events = _for(
                await events_seen_by(app, user=member, until=("project.restored", project["id"])),
                project["id"],
            )
            restored = _one(events, "project.restored")
            assert restored.version == 3
            assert "role" not in restored.data
            grants = [e for e in of_type(events, "project.access_granted") if e.version == 3]
            assert len(grants) == 1
            assert str(grants[0].target_user_id) == member.id
            assert grants[0].data["role"] == role
            assert grants[0].data["version"] == 3


class TestMemberEvents:
    async def test_add_writes_member_added_and_grants_access_to_newcomer_only(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        added = await share(
            client, owner=user, project_id=project["id"], member=other_user, role="viewer"
        )
        theirs = _for(
            await events_seen_by(
                app, user=other_user, until=("project.access_granted", project["id"])
            ),
            project["id"],
        )
        member_added = _one(theirs, "member.added")
        assert member_added.entity == "member"
        assert str(member_added.entity_id) == other_user.id
        assert member_added.version == 1
        assert member_added.data == {"project_id": project["id"], **added}
        granted = _one(theirs, "project.access_granted")
        assert str(granted.target_user_id) == other_user.id
        assert granted.data == {**project, "role": "viewer"}
        # the grant is the newcomer's alone
        owners = _for(
            await events_seen_by(app, user=user, until=("member.added", other_user.id)),
            project["id"],
        )
        assert of_type(owners, "project.access_granted") == []
        assert _one(owners, "member.added").data["role"] == "viewer"

    async def test_role_change_writes_member_updated_with_growing_version(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        response = await client.patch(
            f"{API}/projects/{project['id']}/members/{other_user.id}",
            json={"role": "viewer"},
            headers=user.headers,
        )
        assert response.status_code == 200
        events = _for(
            await events_seen_by(app, user=other_user, until=("member.updated", other_user.id)),
            project["id"],
        )
        updated = _one(events, "member.updated")
        assert updated.version == 2
        assert updated.data["role"] == "viewer"
        assert updated.data["user"]["id"] == other_user.id

    async def test_transfer_writes_member_updated_for_both_and_project_updated(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await client.patch(
            f"{API}/projects/{project['id']}/members/{other_user.id}",
            json={"role": "owner"},
            headers=user.headers,
        )
        events = _for(
            await events_seen_by(app, user=user, until=("project.updated", project["id"])),
            project["id"],
        )
        former = _one(events, "member.updated", entity_id=user.id)
        assert former.data["role"] == "editor"
        assert former.version == 2
        new_owner = _one(events, "member.updated", entity_id=other_user.id)
        assert new_owner.data["role"] == "owner"
        assert new_owner.version == 2
        project_updated = _one(events, "project.updated")
        assert project_updated.version == 2
        assert project_updated.changes == {"owner_id": {"before": user.id, "after": other_user.id}}
        assert "role" not in project_updated.data

    async def test_removal_writes_tombstone_and_revokes_access_at_once(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await _remove(client, user, project["id"], other_user)
        await client.patch(
            f"{API}/projects/{project['id']}",
            json={"version": 1, "name": "After"},
            headers=user.headers,
        )
        owners = _for(
            await events_seen_by(app, user=user, until=("project.updated", project["id"])),
            project["id"],
        )
        removed = _one(owners, "member.removed")
        assert str(removed.entity_id) == other_user.id
        assert removed.version == 2
        assert set(removed.data) == TOMBSTONE_FIELDS
        assert removed.data["id"] == other_user.id
        assert removed.data["project_id"] == project["id"]
        assert of_type(owners, "project.access_revoked") == []

        theirs = _for(await events_seen_by(app, user=other_user), project["id"])
        revoked = _one(theirs, "project.access_revoked")
        assert str(revoked.target_user_id) == other_user.id
        assert revoked.data == {"id": project["id"], "project_id": project["id"], "version": 1}
        # the project's own stream, earlier and later, is no longer theirs to read
        assert [e.type for e in theirs if e.target_user_id is None] == []
        assert of_type(theirs, "project.updated") == []

    async def test_leaving_revokes_the_leaver(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await _remove(client, other_user, project["id"], other_user)
        theirs = _for(
            await events_seen_by(
                app, user=other_user, until=("project.access_revoked", project["id"])
            ),
            project["id"],
        )
        assert str(_one(theirs, "project.access_revoked").actor_id) == other_user.id

    async def test_readding_bumps_membership_version_and_grants_again(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        await _remove(client, user, project["id"], other_user)
        await share(client, owner=user, project_id=project["id"], member=other_user, role="viewer")
        owners = _for(
            await events_seen_by(app, user=user, until=("member.added", other_user.id), count=2),
            project["id"],
        )
        versions = [(e.type, e.version) for e in owners if e.entity == "member"]
        assert ("member.added", 1) in versions
        assert ("member.removed", 2) in versions
        assert ("member.added", 3) in versions
        theirs = await events_seen_by(
            app, user=other_user, until=("project.access_granted", project["id"]), count=2
        )
        grants = of_type(_for(theirs, project["id"]), "project.access_granted")
        assert [g.data["role"] for g in grants] == ["editor", "viewer"]

    async def test_removal_clears_assignments_with_task_updated(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        user: UserSession,
        other_user: UserSession,
    ) -> None:
        project = await create_project(client, owner=user)
        await share(client, owner=user, project_id=project["id"], member=other_user)
        created = await client.post(
            f"{API}/tasks",
            json={"project_id": project["id"], "title": "Weed", "assignee_id": other_user.id},
            headers=user.headers,
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        await _remove(client, user, project["id"], other_user)
        owners = await events_seen_by(app, user=user, until=("member.removed", other_user.id))
        cleared = [e for e in of_type(owners, "task.updated") if str(e.entity_id) == task_id]
        assert len(cleared) == 1
        assert cleared[0].data["assignee_id"] is None
        assert str(cleared[0].actor_id) == user.id

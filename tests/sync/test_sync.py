"""`GET /api/v1/sync`: the paged snapshot with a fixed cursor, and the changes after a cursor."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from taskapi.events import writer
from taskapi.kit.cursors import CursorCodec
from taskapi.tasks import service as tasks_service
from tests.conftest import TEST_SECRET
from tests.fixtures.factories import UserSession, register_user
from tests.fixtures.sync import (
    SYNC,
    changes_since,
    create_project,
    create_task,
    current_cursor,
    has_change,
    patch_task,
    share,
    snapshot_pages,
    unshare,
)


def _engine(app: Any) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


async def _inbox_id(client: httpx.AsyncClient, user: UserSession) -> str:
    (page,) = await snapshot_pages(client, user)
    inbox: str = next(p["id"] for p in page["projects"] if p["is_inbox"])
    return inbox


class TestSnapshot:
    async def test_first_page_holds_projects_memberships_and_users(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        shared = await create_project(client, other_user, "Team")
        await share(client, other_user, shared["id"], user, role="viewer")
        former = await register_user(client, display_name="Former member")
        await share(client, other_user, shared["id"], former)
        await unshare(client, other_user, shared["id"], former)

        (page,) = await snapshot_pages(client, user)

        roles = {p["id"]: (p["role"], p["is_inbox"]) for p in page["projects"]}
        assert roles[shared["id"]] == ("viewer", False)
        assert sorted(roles.values()) == [("owner", True), ("viewer", False)]
        assert page["projects"][0]["is_inbox"] is True
        members = {(m["project_id"], m["user"]["id"]): m["role"] for m in page["memberships"]}
        assert members[(shared["id"], other_user.id)] == "owner"
        assert members[(shared["id"], user.id)] == "viewer"
        assert (shared["id"], former.id) not in members
        users = {u["id"]: u for u in page["users"]}
        assert set(users) == {user.id, other_user.id, former.id}
        assert users[former.id] == {"id": former.id, "display_name": "Former member"}
        assert page["page_cursor"] is None
        assert isinstance(page["cursor"], str)

    async def test_tasks_are_paged_with_the_same_cursor_on_every_page(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        created = [await create_task(client, user, title=f"t{i}") for i in range(5)]

        pages = await snapshot_pages(client, user, limit=2)

        assert [len(page["tasks"]) for page in pages] == [2, 2, 1]
        assert len({page["cursor"] for page in pages}) == 1
        assert [page["page_cursor"] is None for page in pages] == [False, False, True]
        assert [len(page["projects"]) for page in pages] == [1, 0, 0]
        listed = [task for page in pages for task in page["tasks"]]
        assert sorted(t["id"] for t in listed) == sorted(t["id"] for t in created)
        assert listed == sorted(listed, key=lambda t: t["id"])
        assert listed[0] == next(t for t in created if t["id"] == listed[0]["id"])

    async def test_deleted_tasks_and_other_users_tasks_are_left_out(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        kept = await create_task(client, user, title="kept")
        gone = await create_task(client, user, title="gone")
        await create_task(client, other_user, title="theirs")
        response = await client.delete(f"/api/v1/tasks/{gone['id']}", headers=user.headers)
        assert response.status_code == 204

        (page,) = await snapshot_pages(client, user)

        assert [t["id"] for t in page["tasks"]] == [kept["id"]]

    async def test_change_committing_after_the_cursor_arrives_as_a_change(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user, title="before")
        engine = _engine(app)
        # a change in flight when the snapshot starts: its cursor must not pass it
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await tasks_service.update_task(
                conn,
                actor_id=uuid.UUID(user.id),
                task_id=uuid.UUID(task["id"]),
                patch={"title": "after"},
                expected=None,
            )
            (page,) = await snapshot_pages(client, user)
            await transaction.commit()

        assert [t["title"] for t in page["tasks"]] == ["before"]
        changes, _ = await changes_since(
            client, user, page["cursor"], until=has_change("task.updated", task["id"])
        )
        # the log may repeat what the snapshot holds (other transactions in the cluster hold
        # the horizon back); the client's version rule drops those
        updates = [c for c in changes if c["id"] == task["id"] and c["version"] > 1]
        assert [(c["event"], c["version"], c["data"]["title"]) for c in updates] == [
            ("task.updated", 2, "after")
        ]

    async def test_change_between_pages_arrives_as_a_change(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        for i in range(2):
            await create_task(client, user, title=f"t{i}")
        first = (await client.get(SYNC, params={"limit": 1}, headers=user.headers)).json()
        late = await create_task(client, user, title="late")
        second = (
            await client.get(
                SYNC, params={"limit": 5, "page_cursor": first["page_cursor"]}, headers=user.headers
            )
        ).json()

        assert second["cursor"] == first["cursor"]
        changes, _ = await changes_since(
            client, user, first["cursor"], until=has_change("task.created", late["id"])
        )
        assert ("task.created", late["id"]) in [(c["event"], c["id"]) for c in changes]

    async def test_tampered_page_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        for i in range(2):
            await create_task(client, user, title=f"t{i}")
        first = (await client.get(SYNC, params={"limit": 1}, headers=user.headers)).json()
        token = first["page_cursor"]
        tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")

        response = await client.get(SYNC, params={"page_cursor": tampered}, headers=user.headers)

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_page_cursor_of_another_user_is_400(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        for i in range(2):
            await create_task(client, user, title=f"t{i}")
        first = (await client.get(SYNC, params={"limit": 1}, headers=user.headers)).json()

        response = await client.get(
            SYNC, params={"page_cursor": first["page_cursor"]}, headers=other_user.headers
        )

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_requires_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.get(SYNC)
        assert response.status_code == 401


class TestChanges:
    async def test_create_update_move_delete_restore_in_log_order(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, user, "Elsewhere")
        cursor = await current_cursor(client, user)
        task = await create_task(client, user, title="one")
        task = await patch_task(client, user, task, status="done")
        task = await patch_task(client, user, task, project_id=project["id"])
        response = await client.delete(f"/api/v1/tasks/{task['id']}", headers=user.headers)
        assert response.status_code == 204
        response = await client.post(f"/api/v1/tasks/{task['id']}/restore", headers=user.headers)
        assert response.status_code == 200

        changes, _ = await changes_since(
            client, user, cursor, until=has_change("task.restored", task["id"])
        )

        mine = [c for c in changes if c["id"] == task["id"]]
        assert [(c["event"], c["version"]) for c in mine] == [
            ("task.created", 1),
            ("task.updated", 2),
            ("task.updated", 3),
            ("task.deleted", 4),
            ("task.restored", 5),
        ]
        assert mine[2]["project_id"] == project["id"]
        assert mine[3]["data"] == {
            "id": task["id"],
            "project_id": project["id"],
            "version": 4,
            "deleted_at": mine[3]["data"]["deleted_at"],
        }
        assert mine[4]["data"]["title"] == "one"
        assert all(c["actor_id"] == user.id and c["entity"] == "task" for c in mine)
        event_ids = [c["event_id"] for c in changes]
        assert len(event_ids) == len(set(event_ids))

    async def test_each_change_carries_a_cursor_to_resume_after_it(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cursor = await current_cursor(client, user)
        first = await create_task(client, user, title="first")
        second = await create_task(client, user, title="second")
        changes, _ = await changes_since(
            client, user, cursor, until=has_change("task.created", second["id"])
        )
        created = [c for c in changes if c["id"] in (first["id"], second["id"])]

        rest, _ = await changes_since(
            client, user, created[0]["cursor"], until=has_change("task.created", second["id"])
        )

        assert [c["id"] for c in rest if c["id"] in (first["id"], second["id"])] == [second["id"]]

    async def test_limit_pages_with_has_more(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cursor = await current_cursor(client, user)
        created = [await create_task(client, user, title=f"t{i}") for i in range(5)]
        await changes_since(
            client, user, cursor, until=has_change("task.created", created[-1]["id"])
        )

        seen: list[str] = []
        flags: list[bool] = []
        while True:
            response = await client.get(
                SYNC, params={"cursor": cursor, "limit": 2}, headers=user.headers
            )
            assert response.status_code == 200
            body = response.json()
            seen.extend(c["id"] for c in body["changes"])
            flags.append(body["has_more"])
            cursor = body["cursor"]
            if not body["has_more"]:
                break

        ids = [t["id"] for t in created]
        assert [task_id for task_id in seen if task_id in ids] == ids
        assert flags[:2] == [True, True]
        assert flags[-1] is False
        again = await client.get(SYNC, params={"cursor": cursor}, headers=user.headers)
        assert again.json()["changes"] == []
        assert again.json()["has_more"] is False

    async def test_access_granted_and_revoked_reach_only_the_member(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, other_user, "Team")
        mine = await current_cursor(client, user)
        theirs = await current_cursor(client, other_user)
        await share(client, other_user, project["id"], user, role="editor")
        shared_task = await create_task(client, other_user, title="x", project_id=project["id"])

        changes, mine = await changes_since(
            client, user, mine, until=has_change("task.created", shared_task["id"])
        )

        kinds = [(c["event"], c["id"]) for c in changes]
        assert ("project.access_granted", project["id"]) in kinds
        assert ("task.created", shared_task["id"]) in kinds
        granted = next(c for c in changes if c["event"] == "project.access_granted")
        assert granted["data"]["role"] == "editor"
        assert granted["data"]["name"] == "Team"

        await unshare(client, other_user, project["id"], user)
        await create_task(client, other_user, title="hidden", project_id=project["id"])
        changes, _ = await changes_since(
            client, user, mine, until=has_change("project.access_revoked", project["id"])
        )
        assert ("project.access_revoked", project["id"]) in [(c["event"], c["id"]) for c in changes]
        assert all(
            c["project_id"] != project["id"] or c["event"].startswith("project.access")
            for c in changes
        )

        owner_changes, _ = await changes_since(
            client, other_user, theirs, until=has_change("member.removed", user.id)
        )
        owner_kinds = {c["event"] for c in owner_changes}
        assert "project.access_granted" not in owner_kinds
        assert "project.access_revoked" not in owner_kinds
        assert {"member.added", "member.removed"} <= owner_kinds

    async def test_move_to_an_unseen_project_is_a_tombstone(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        shared = await create_project(client, other_user, "Shared")
        private = await create_project(client, other_user, "Private")
        await share(client, other_user, shared["id"], user)
        task = await create_task(client, other_user, title="moving", project_id=shared["id"])
        cursor = await current_cursor(client, user)

        await patch_task(client, other_user, task, project_id=private["id"])

        changes, _ = await changes_since(
            client, user, cursor, until=has_change("task.deleted", task["id"])
        )
        assert [
            (c["event"], c["project_id"], c["version"])
            for c in changes
            if c["id"] == task["id"] and c["version"] > 1
        ] == [("task.deleted", shared["id"], 2)]

    async def test_no_change_is_skipped_or_repeated_when_commits_come_out_of_order(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        inbox = uuid.UUID(await _inbox_id(client, user))
        engine = _engine(app)
        cursor = await current_cursor(client, user)
        seen: list[int] = []

        async def record(conn: Any, marker: int) -> None:
            await writer.record(
                conn,
                type="task.updated",
                entity="task",
                entity_id=uuid.uuid4(),
                project_id=inbox,
                version=marker,
                actor_id=None,
                data={"marker": marker},
            )

        async def read(expected: int = 0) -> None:
            nonlocal cursor
            changes, cursor = await changes_since(
                client,
                user,
                cursor,
                limit=3,
                until=lambda got: len(seen) + sum("marker" in c["data"] for c in got) >= expected,
            )
            seen.extend(c["data"]["marker"] for c in changes if "marker" in c["data"])

        slow = await engine.connect()
        slow_tx = await slow.begin()
        await record(slow, 0)  # the lower event id, committed last
        async with engine.begin() as fast:
            await record(fast, 1)
        await read()
        assert seen == []  # held back while the earlier transaction is in flight
        await slow_tx.commit()
        await slow.close()
        await read(expected=2)

        async def write(marker: int) -> None:
            async with engine.begin() as conn:
                await record(conn, marker)
                await asyncio.sleep((marker * 7 % 5) * 0.003)

        writers = [asyncio.create_task(write(marker)) for marker in range(2, 22)]
        while not all(task.done() for task in writers):
            await read()
        await asyncio.gather(*writers)
        await read(expected=22)

        assert sorted(seen) == list(range(22))
        assert len(seen) == len(set(seen))


class TestBadCursors:
    async def test_tampered_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cursor = await current_cursor(client, user)
        tampered = cursor[:-3] + ("xyz" if cursor[-3:] != "xyz" else "abc")

        response = await client.get(SYNC, params={"cursor": tampered}, headers=user.headers)

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    @pytest.mark.parametrize("cursor", ["", "not a cursor", "%%%", "A" * 3000])
    async def test_malformed_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession, cursor: str
    ) -> None:
        response = await client.get(SYNC, params={"cursor": cursor}, headers=user.headers)
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_signed_cursor_with_a_bad_payload_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        forged = CursorCodec(TEST_SECRET, purpose="events").encode({"xid": 1})
        response = await client.get(SYNC, params={"cursor": forged}, headers=user.headers)
        assert response.status_code == 400

    async def test_cursor_older_than_the_retention_is_410(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        issued = int(time.time()) - 31 * 86_400
        expired = CursorCodec(TEST_SECRET, purpose="events").encode([1, 0, issued])

        response = await client.get(SYNC, params={"cursor": expired}, headers=user.headers)

        assert response.status_code == 410
        assert response.json()["type"] == "/problems/cursor-expired"

    async def test_cursor_within_the_retention_is_accepted(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        issued = int(time.time()) - 29 * 86_400
        old = CursorCodec(TEST_SECRET, purpose="events").encode([1, 0, issued])
        response = await client.get(SYNC, params={"cursor": old, "limit": 1}, headers=user.headers)
        assert response.status_code == 200

    @pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1"])
    async def test_limit_out_of_range_is_422(
        self, client: httpx.AsyncClient, user: UserSession, limit: str
    ) -> None:
        cursor = await current_cursor(client, user)
        for params in ({"cursor": cursor, "limit": limit}, {"limit": limit}):
            response = await client.get(SYNC, params=params, headers=user.headers)
            assert response.status_code == 422
            assert response.json()["errors"][0]["loc"] == ["query", "limit"]

    async def test_cursor_and_page_cursor_together_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        cursor = await current_cursor(client, user)
        response = await client.get(
            SYNC, params={"cursor": cursor, "page_cursor": cursor}, headers=user.headers
        )
        assert response.status_code == 422

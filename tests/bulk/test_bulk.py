"""`POST /api/v1/tasks/bulk`: many task changes in one request, atomic or not (API.md §4)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import UserSession
from tests.fixtures.sync import (
    changes_since,
    create_project,
    create_task,
    current_cursor,
    has_change,
    patch_task,
    share,
)

BULK = "/api/v1/tasks/bulk"


async def _bulk(
    client: httpx.AsyncClient,
    user: UserSession,
    operations: list[dict[str, Any]],
    *,
    atomic: bool | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"operations": operations}
    if atomic is not None:
        body["atomic"] = atomic
    return await client.post(BULK, json=body, headers={**user.headers, **(headers or {})})


async def _titles(client: httpx.AsyncClient, user: UserSession) -> list[str]:
    response = await client.get("/api/v1/tasks", params={"limit": 200}, headers=user.headers)
    assert response.status_code == 200
    return sorted(task["title"] for task in response.json()["items"])


async def _events_by(app: Any, user: UserSession) -> int:
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as conn:
        count: int = (
            await conn.execute(
                text("SELECT count(*) FROM events WHERE actor_id = :id"), {"id": user.id}
            )
        ).scalar_one()
    return count


def _statuses(response: httpx.Response) -> list[int]:
    return [result["status"] for result in response.json()["results"]]


class TestBulkBody:
    @pytest.mark.parametrize("count", [0, 501])
    async def test_operation_count_out_of_range_is_422(
        self, client: httpx.AsyncClient, user: UserSession, count: int
    ) -> None:
        operations = [{"op": "create", "data": {"title": f"t{i}"}} for i in range(count)]
        response = await _bulk(client, user, operations)
        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation"
        assert await _titles(client, user) == []

    async def test_unknown_op_is_422(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await _bulk(
            client, user, [{"op": "create", "data": {"title": "a"}}, {"op": "upsert", "id": "x"}]
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"][:3] == ["body", "operations", 1]
        assert await _titles(client, user) == []

    @pytest.mark.parametrize(
        "operation",
        [
            {"op": "update", "version": 1, "data": {"title": "x"}},
            {"op": "create"},
            {"op": "delete"},
            {"op": "restore", "id": "0190f7d8-0000-7000-8000-000000000000", "version": 1},
            {"op": "create", "data": {"title": "x"}, "extra": 1},
        ],
    )
    async def test_missing_or_unknown_fields_are_422(
        self, client: httpx.AsyncClient, user: UserSession, operation: dict[str, Any]
    ) -> None:
        response = await _bulk(client, user, [operation])
        assert response.status_code == 422
        assert "results" not in response.json()

    async def test_atomic_must_be_a_boolean(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.post(
            BULK,
            json={"atomic": "yes", "operations": [{"op": "create", "data": {"title": "x"}}]},
            headers=user.headers,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "atomic"]
        assert await _titles(client, user) == []

    async def test_ref_defined_twice_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "a", "data": {"title": "one"}},
                {"op": "create", "ref": "a", "data": {"title": "two"}},
            ],
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "operations", 1, "ref"]
        assert await _titles(client, user) == []

    @pytest.mark.parametrize(
        "ref", ["0190f7d8-1111-7000-8000-000000000000", "0190f7d811117000800000000000000a"]
    )
    async def test_uuid_shaped_ref_is_422(
        self, client: httpx.AsyncClient, user: UserSession, ref: str
    ) -> None:
        response = await _bulk(client, user, [{"op": "create", "ref": ref, "data": {"title": "x"}}])
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "operations", 0, "ref"]

    async def test_requires_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BULK, json={"operations": [{"op": "restore", "id": "x"}]})
        assert response.status_code == 401


class TestAtomicBulk:
    async def test_applies_every_operation_with_refs(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        existing = await create_task(client, user, title="existing")
        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "parent", "data": {"title": "parent"}},
                {"op": "create", "ref": "child", "data": {"title": "child", "parent_id": "parent"}},
                {"op": "update", "id": "child", "version": 1, "data": {"status": "done"}},
                {"op": "update", "id": existing["id"], "version": 1, "data": {"priority": 3}},
                {"op": "delete", "id": existing["id"], "version": 2},
                {"op": "restore", "id": existing["id"]},
            ],
        )

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [(r["index"], r["op"], r["ref"], r["status"]) for r in results] == [
            (0, "create", "parent", 201),
            (1, "create", "child", 201),
            (2, "update", None, 200),
            (3, "update", None, 200),
            (4, "delete", None, 204),
            (5, "restore", None, 200),
        ]
        parent, child = results[0]["task"], results[1]["task"]
        assert child["parent_id"] == parent["id"]
        assert results[2]["task"]["id"] == child["id"]
        assert results[2]["task"]["status"] == "done"
        assert results[2]["task"]["version"] == 2
        assert results[4]["task"] is None
        assert results[5]["task"]["version"] == 4
        assert results[5]["task"]["priority"] == 3
        assert "problem" not in results[0]
        assert await _titles(client, user) == ["child", "existing", "parent"]

    async def test_stale_version_rejects_the_whole_batch(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user, title="kept")
        events_before = await _events_by(app, user)

        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "new", "data": {"title": "never"}},
                {"op": "update", "id": task["id"], "version": 7, "data": {"title": "stale"}},
                {"op": "update", "id": "new", "version": 1, "data": {"title": "never 2"}},
                {"op": "update", "id": task["id"], "data": {"title": "no version"}},
            ],
        )

        assert response.status_code == 409
        body = response.json()
        assert body["type"] == "/problems/bulk-rejected"
        assert _statuses(response) == [424, 409, 424, 428]
        conflict = body["results"][1]["problem"]
        assert conflict["type"] == "/problems/version-conflict"
        assert conflict["current"]["version"] == 1
        assert conflict["current"]["title"] == "kept"
        assert body["results"][3]["problem"]["type"] == "/problems/precondition-required"
        assert "problem" not in body["results"][0]
        assert await _titles(client, user) == ["kept"]
        assert await _events_by(app, user) == events_before

    async def test_ref_used_before_it_is_defined_fails_that_operation(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await _bulk(
            client,
            user,
            [
                {"op": "update", "id": "later", "version": 1, "data": {"title": "x"}},
                {"op": "create", "ref": "child", "data": {"title": "c", "parent_id": "later"}},
                {"op": "create", "ref": "later", "data": {"title": "defined"}},
            ],
        )

        assert response.status_code == 409
        assert _statuses(response) == [422, 422, 424]
        results = response.json()["results"]
        assert results[0]["problem"]["errors"][0]["loc"] == ["body", "operations", 0, "id"]
        assert results[1]["problem"]["errors"][0]["loc"] == [
            "body",
            "operations",
            1,
            "data",
            "parent_id",
        ]
        assert await _titles(client, user) == []

    async def test_dependents_of_a_failed_create_are_not_applied(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "bad", "data": {"title": ""}},
                {"op": "update", "id": "bad", "version": 1, "data": {"title": "x"}},
            ],
        )
        assert response.status_code == 409
        assert _statuses(response) == [422, 424]
        assert response.json()["results"][0]["problem"]["errors"][0]["loc"] == [
            "body",
            "operations",
            0,
            "data",
            "title",
        ]

    async def test_another_users_ids_are_404_by_id_and_422_in_data(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        theirs = await create_task(client, other_user, title="theirs")
        their_project = await create_project(client, other_user, "Theirs")

        response = await _bulk(
            client,
            user,
            [
                {"op": "update", "id": theirs["id"], "version": 1, "data": {"title": "x"}},
                {"op": "delete", "id": theirs["id"]},
                {"op": "restore", "id": theirs["id"]},
                {"op": "create", "data": {"title": "x", "project_id": their_project["id"]}},
                {"op": "create", "data": {"title": "x", "parent_id": theirs["id"]}},
                {"op": "create", "data": {"title": "fine"}},
            ],
        )

        assert response.status_code == 409
        assert _statuses(response) == [404, 404, 404, 422, 422, 424]
        results = response.json()["results"]
        assert results[3]["problem"]["errors"][0]["loc"] == [
            "body",
            "operations",
            3,
            "data",
            "project_id",
        ]
        assert results[4]["problem"]["errors"][0]["loc"][-1] == "parent_id"
        other = await client.get(f"/api/v1/tasks/{theirs['id']}", headers=other_user.headers)
        assert other.json()["version"] == 1
        assert await _titles(client, user) == []

    async def test_viewer_gets_403(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, other_user, "Viewed")
        await share(client, other_user, project["id"], user, role="viewer")
        task = await create_task(client, other_user, title="t", project_id=project["id"])

        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "data": {"title": "x", "project_id": project["id"]}},
                {"op": "update", "id": task["id"], "version": 1, "data": {"title": "y"}},
                {"op": "delete", "id": task["id"]},
            ],
        )

        assert response.status_code == 409
        assert _statuses(response) == [403, 403, 403]
        assert response.json()["results"][0]["problem"]["type"] == "/problems/forbidden"


class TestNonAtomicBulk:
    async def test_each_operation_stands_alone(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user, title="kept")
        events_before = await _events_by(app, user)

        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "a", "data": {"title": "first"}},
                {"op": "update", "id": task["id"], "version": 9, "data": {"title": "stale"}},
                {"op": "update", "id": task["id"], "data": {"title": "no version"}},
                {"op": "create", "data": {"title": "second", "parent_id": "a"}},
            ],
            atomic=False,
        )

        assert response.status_code == 200, response.text
        assert _statuses(response) == [201, 409, 428, 201]
        results = response.json()["results"]
        assert results[1]["problem"]["current"]["title"] == "kept"
        assert results[1]["task"] is None
        assert results[3]["task"]["parent_id"] == results[0]["task"]["id"]
        assert await _titles(client, user) == ["first", "kept", "second"]
        assert await _events_by(app, user) == events_before + 2

    async def test_dependent_of_a_failed_create_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await _bulk(
            client,
            user,
            [
                {"op": "create", "ref": "bad", "data": {"title": "x", "priority": 9}},
                {"op": "create", "data": {"title": "child", "parent_id": "bad"}},
                {"op": "create", "data": {"title": "alone"}},
            ],
            atomic=False,
        )
        assert response.status_code == 200
        assert _statuses(response) == [422, 424, 201]
        assert response.json()["results"][1]["problem"]["type"] == "/problems/validation"
        assert await _titles(client, user) == ["alone"]


class TestBulkIdempotency:
    async def test_same_key_and_body_applies_once(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
        operations = [{"op": "create", "ref": "a", "data": {"title": "once"}}]

        first = await _bulk(client, user, operations, headers=key)
        again = await _bulk(client, user, operations, headers=key)

        assert first.status_code == again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert again.json() == first.json()
        assert await _titles(client, user) == ["once"]

    async def test_same_key_with_another_body_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
        await _bulk(client, user, [{"op": "create", "data": {"title": "one"}}], headers=key)

        response = await _bulk(
            client, user, [{"op": "create", "data": {"title": "two"}}], headers=key
        )

        assert response.status_code == 422
        assert response.json()["type"] == "/problems/idempotency-key-reused"
        assert await _titles(client, user) == ["one"]

    async def test_rejected_batch_is_not_stored_so_a_retry_runs_again(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user, title="t")
        key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
        operations = [{"op": "update", "id": task["id"], "version": 2, "data": {"title": "u"}}]
        first = await _bulk(client, user, operations, headers=key)
        assert first.status_code == 409
        await patch_task(client, user, task, title="moved on")

        again = await _bulk(client, user, operations, headers=key)

        assert again.status_code == 200
        assert "Idempotent-Replayed" not in again.headers
        assert await _titles(client, user) == ["u"]


def _shape(change: dict[str, Any], ids: dict[str, str]) -> tuple[Any, ...]:
    """A change with ids, times and the actor replaced, to compare two users' histories."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: scrub(item)
                for key, item in value.items()
                if key not in ("created_at", "updated_at", "deleted_at", "completed_at")
            }
        if isinstance(value, str) and value in ids:
            return ids[value]
        return value

    return (change["event"], change["entity"], change["version"], scrub(change["data"]))


class TestBulkEvents:
    async def test_events_equal_those_of_single_calls(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        start_single = await current_cursor(client, user)
        parent = await create_task(client, user, title="p", tags=["a"])
        child = await create_task(client, user, title="c", parent_id=parent["id"])
        parent = await patch_task(client, user, parent, status="done")
        response = await client.delete(f"/api/v1/tasks/{parent['id']}", headers=user.headers)
        assert response.status_code == 204
        response = await client.post(f"/api/v1/tasks/{parent['id']}/restore", headers=user.headers)
        assert response.status_code == 200

        start_bulk = await current_cursor(client, other_user)
        response = await _bulk(
            client,
            other_user,
            [
                {"op": "create", "ref": "p", "data": {"title": "p", "tags": ["a"]}},
                {"op": "create", "ref": "c", "data": {"title": "c", "parent_id": "p"}},
                {"op": "update", "id": "p", "version": 1, "data": {"status": "done"}},
                {"op": "delete", "id": "p"},
                {"op": "restore", "id": "p"},
            ],
        )
        assert response.status_code == 200
        results = response.json()["results"]

        single, _ = await changes_since(
            client, user, start_single, until=has_change("task.restored", child["id"])
        )
        bulk, _ = await changes_since(
            client,
            other_user,
            start_bulk,
            until=has_change("task.restored", results[1]["task"]["id"]),
        )
        single_ids = {
            parent["id"]: "P",
            child["id"]: "C",
            user.id: "U",
            parent["project_id"]: "INBOX",
        }
        bulk_ids = {
            results[0]["task"]["id"]: "P",
            results[1]["task"]["id"]: "C",
            other_user.id: "U",
            results[0]["task"]["project_id"]: "INBOX",
        }
        single_tasks = [c for c in single if c["entity"] == "task" and c["id"] in single_ids]
        bulk_tasks = [c for c in bulk if c["entity"] == "task" and c["id"] in bulk_ids]
        # per task, the same changes in the same order (one statement's rows have no order)
        for name in ("P", "C"):
            assert [_shape(c, single_ids) for c in single_tasks if single_ids[c["id"]] == name] == [
                _shape(c, bulk_ids) for c in bulk_tasks if bulk_ids[c["id"]] == name
            ]
        assert len(bulk_tasks) == 7  # 2 created, 1 updated, 2 deleted, 2 restored


class TestBulkDeadlock:
    async def test_operation_aborted_by_a_deadlock_stops_an_atomic_batch(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user, title="first")
        second = await create_task(client, user, title="second")
        engine: AsyncEngine = app.state.engine
        async with engine.connect() as other:
            transaction = await other.begin()
            lock = "SELECT id FROM tasks WHERE id = :id FOR UPDATE"
            await other.execute(text(lock), {"id": second["id"]})
            request = asyncio.create_task(
                _bulk(
                    client,
                    user,
                    [
                        {"op": "update", "id": first["id"], "version": 1, "data": {"title": "a"}},
                        {"op": "update", "id": second["id"], "version": 1, "data": {"title": "b"}},
                        {"op": "create", "data": {"title": "never"}},
                    ],
                )
            )
            await _until_a_backend_waits_for_a_lock(engine)
            # the batch waits for `second`; taking `first` closes the cycle, and PostgreSQL
            # aborts the batch, whose wait began first
            await other.execute(text(lock), {"id": first["id"]})
            response = await request
            await transaction.rollback()

        assert response.status_code == 409, response.text
        assert _statuses(response) == [424, 409, 424]
        assert response.json()["results"][1]["problem"]["type"] == "/problems/conflict"
        assert await _titles(client, user) == ["first", "second"]


async def _until_a_backend_waits_for_a_lock(engine: AsyncEngine) -> None:
    for _ in range(200):
        async with engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the batch never waited for the lock")

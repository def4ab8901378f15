"""Runs of consecutive creates in a bulk: each checked like `POST /tasks`, inserted together, with
the same results and events as the single calls, in operation order (API.md §4 "Bulk")."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import UserSession
from tests.fixtures.sync import create_project, create_task, patch_task, share

BULK = "/api/v1/tasks/bulk"
_TIMES = ("created_at", "updated_at", "deleted_at", "completed_at")


async def _bulk(
    client: httpx.AsyncClient,
    user: UserSession,
    operations: list[dict[str, Any]],
    *,
    atomic: bool = True,
) -> httpx.Response:
    return await client.post(
        BULK, json={"atomic": atomic, "operations": operations}, headers=user.headers
    )


def _operations(other_project_id: str) -> list[dict[str, Any]]:
    """Creates (a parent and its subtree inside one run), an update, more creates; index 5 fails
    (its parent, a task of this batch, is in another project)."""
    return [
        {
            "op": "create",
            "ref": "a",
            "data": {"title": "a", "tags": ["X", "y"], "priority": 2, "due_date": "2030-01-02"},
        },
        {"op": "create", "ref": "b", "data": {"title": "b", "parent_id": "a", "status": "done"}},
        {
            "op": "create",
            "ref": "c",
            "data": {"title": "c", "parent_id": "b", "due_at": "2030-01-02T10:00:00+02:00"},
        },
        {"op": "update", "id": "a", "version": 1, "data": {"title": "a2"}},
        {"op": "create", "ref": "d", "data": {"title": "d", "parent_id": "a"}},
        {
            "op": "create",
            "ref": "e",
            "data": {"title": "e", "project_id": other_project_id, "parent_id": "a"},
        },
        {"op": "create", "ref": "f", "data": {"title": "f", "description": "last"}},
    ]


async def _single_calls(client: httpx.AsyncClient, user: UserSession) -> dict[str, str]:
    """The operations above as single calls (the failing one left out); ids by name."""
    a = await create_task(
        client, user, title="a", tags=["X", "y"], priority=2, due_date="2030-01-02"
    )
    b = await create_task(client, user, title="b", parent_id=a["id"], status="done")
    c = await create_task(
        client, user, title="c", parent_id=b["id"], due_at="2030-01-02T10:00:00+02:00"
    )
    await patch_task(client, user, a, title="a2")
    d = await create_task(client, user, title="d", parent_id=a["id"])
    f = await create_task(client, user, title="f", description="last")
    return {a["id"]: "a", b["id"]: "b", c["id"]: "c", d["id"]: "d", f["id"]: "f"}


def _bulk_ids(response: httpx.Response) -> dict[str, str]:
    return {
        result["task"]["id"]: result["ref"]
        for result in response.json()["results"]
        if result["op"] == "create" and result["task"] is not None
    }


async def _events(app: Any, user: UserSession, names: dict[str, str]) -> list[tuple[Any, ...]]:
    """The user's events in log order, ids replaced by names and times left out."""
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT type, entity, entity_id, version, data, changes FROM events"
                    " WHERE actor_id = :id AND entity = 'task' ORDER BY id"
                ),
                {"id": user.id},
            )
        ).all()

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items() if key not in _TIMES}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    return [
        (
            row.type,
            row.entity,
            names[str(row.entity_id)],
            row.version,
            scrub(row.data),
            scrub(row.changes),
        )
        for row in rows
    ]


async def _inbox_id(client: httpx.AsyncClient, user: UserSession) -> str:
    response = await client.get("/api/v1/projects", headers=user.headers)
    assert response.status_code == 200
    inbox: str = next(p["id"] for p in response.json()["items"] if p["is_inbox"])
    return inbox


async def _task_count(app: Any, user: UserSession) -> tuple[int, int]:
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM tasks WHERE created_by = :id),"
                    " (SELECT count(*) FROM events WHERE actor_id = :id AND entity = 'task')"
                ),
                {"id": user.id},
            )
        ).one()
    return int(row[0]), int(row[1])


class TestBulkCreateRuns:
    async def test_atomic_run_with_refs_equals_single_calls(
        self, app: Any, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        single_names = await _single_calls(client, user)
        operations = [op for op in _operations("unused") if op.get("ref") != "e"]

        response = await _bulk(client, other_user, operations)

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 201, 201, 200, 201, 201]
        tasks = {r["ref"]: r["task"] for r in results if r["op"] == "create"}
        assert tasks["b"]["parent_id"] == tasks["a"]["id"]
        assert tasks["c"]["parent_id"] == tasks["b"]["id"]
        assert tasks["d"]["parent_id"] == tasks["a"]["id"]
        assert tasks["b"]["completed_at"] is not None
        assert tasks["c"]["due_at"] == "2030-01-02T08:00:00Z"
        assert results[3]["task"]["title"] == "a2"
        # each result is what GET answers afterwards (b and c unchanged since their create)
        for ref in ("b", "c", "d", "f"):
            fetched = await client.get(
                f"/api/v1/tasks/{tasks[ref]['id']}", headers=other_user.headers
            )
            assert fetched.json() == tasks[ref]
        single_names[await _inbox_id(client, user)] = "INBOX"
        single_names[user.id] = "U"
        bulk_names = {**_bulk_ids(response), await _inbox_id(client, other_user): "INBOX"}
        bulk_names[other_user.id] = "U"
        single_events = await _events(app, user, single_names)
        assert await _events(app, other_user, bulk_names) == single_events
        assert [(event[0], event[2]) for event in single_events] == [
            ("task.created", "a"),
            ("task.created", "b"),
            ("task.created", "c"),
            ("task.updated", "a"),
            ("task.created", "d"),
            ("task.created", "f"),
        ]

    async def test_atomic_failure_inside_a_run_rejects_everything(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, user, "Elsewhere")

        response = await _bulk(client, user, _operations(project["id"]))

        assert response.status_code == 409, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [424, 424, 424, 424, 424, 422, 424]
        assert all(r["task"] is None for r in results)
        assert [r.get("problem") is None for r in results] == [True] * 5 + [False, True]
        errors = results[5]["problem"]["errors"]
        assert [error["loc"] for error in errors] == [
            ["body", "operations", 5, "data", "parent_id"]
        ]
        assert await _task_count(app, user) == (0, 0)

    async def test_non_atomic_failure_inside_a_run_stands_alone(
        self, app: Any, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        single_names = await _single_calls(client, user)
        project = await create_project(client, other_user, "Elsewhere")

        response = await _bulk(client, other_user, _operations(project["id"]), atomic=False)

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 201, 201, 200, 201, 422, 201]
        assert [error["loc"] for error in results[5]["problem"]["errors"]] == [
            ["body", "operations", 5, "data", "parent_id"]
        ]
        single_names[await _inbox_id(client, user)] = "INBOX"
        single_names[user.id] = "U"
        bulk_names = {**_bulk_ids(response), await _inbox_id(client, other_user): "INBOX"}
        bulk_names[other_user.id] = "U"
        assert await _events(app, other_user, bulk_names) == await _events(app, user, single_names)

    async def test_viewer_project_inside_a_run_is_403_at_its_index(
        self, app: Any, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, other_user, "Viewed")
        await share(client, other_user, project["id"], user, role="viewer")
        operations: list[dict[str, Any]] = [
            {"op": "create", "data": {"title": "one"}},
            {"op": "create", "data": {"title": "two", "project_id": project["id"]}},
            {"op": "create", "data": {"title": "three"}},
        ]

        atomic = await _bulk(client, user, operations)
        assert atomic.status_code == 409, atomic.text
        assert [r["status"] for r in atomic.json()["results"]] == [424, 403, 424]
        assert await _task_count(app, user) == (0, 0)

        alone = await _bulk(client, user, operations, atomic=False)
        assert alone.status_code == 200, alone.text
        assert [r["status"] for r in alone.json()["results"]] == [201, 403, 201]
        assert await _task_count(app, user) == (2, 2)

    async def test_dependent_of_a_failed_create_in_the_same_run_is_not_applied(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, user, "Elsewhere")
        parent = await create_task(client, user, title="parent")
        operations: list[dict[str, Any]] = [
            {
                "op": "create",
                "ref": "x",
                "data": {"title": "x", "project_id": project["id"], "parent_id": parent["id"]},
            },
            {"op": "create", "ref": "y", "data": {"title": "y", "parent_id": "x"}},
            {"op": "create", "data": {"title": "z", "parent_id": "y"}},
        ]

        response = await _bulk(client, user, operations)

        assert response.status_code == 409, response.text
        assert [r["status"] for r in response.json()["results"]] == [422, 424, 424]

    async def test_parent_created_earlier_in_the_run_must_be_in_the_same_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project = await create_project(client, user, "Elsewhere")
        operations: list[dict[str, Any]] = [
            {"op": "create", "ref": "p", "data": {"title": "p"}},
            {"op": "create", "data": {"title": "q", "project_id": project["id"], "parent_id": "p"}},
        ]

        response = await _bulk(client, user, operations)

        assert response.status_code == 409, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [424, 422]
        assert results[1]["problem"]["errors"] == [
            {
                "loc": ["body", "operations", 1, "data", "parent_id"],
                "msg": "The parent must be a task of the same project",
                "type": "value_error",
            }
        ]

    async def test_parents_and_assignees_of_a_run_are_checked_like_single_calls(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project = await create_project(client, user, "Team")
        await share(client, user, project["id"], other_user)
        outsider = await create_task(client, other_user, title="not visible")
        parent = await create_task(client, user, title="parent", project_id=project["id"])
        in_inbox = await create_task(client, user, title="inbox parent")
        team: dict[str, Any] = {"project_id": project["id"]}
        operations: list[dict[str, Any]] = [
            {"op": "create", "ref": "r", "data": {"title": "r", **team}},
            {"op": "update", "id": "r", "version": 1, "data": {"priority": 1}},
            {"op": "create", "data": {"title": "0", "parent_id": parent["id"], **team}},
            {"op": "create", "data": {"title": "1", "parent_id": "r", **team}},
            {"op": "create", "data": {"title": "2", "parent_id": outsider["id"]}},
            {"op": "create", "data": {"title": "3", "parent_id": in_inbox["id"], **team}},
            {"op": "create", "data": {"title": "4", "assignee_id": other_user.id, **team}},
            {"op": "create", "data": {"title": "5", "assignee_id": other_user.id}},
            {"op": "create", "data": {"title": "6", "assignee_id": user.id}},
            {"op": "create", "data": {"title": "7", "parent_id": parent["id"], **team}},
        ]

        response = await _bulk(client, user, operations, atomic=False)

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 200, 201, 201, 422, 422, 201, 422, 201, 201]
        problems = {
            r["index"]: [(e["loc"][-1], e["msg"]) for e in r["problem"]["errors"]]
            for r in results
            if "problem" in r
        }
        assert problems == {
            4: [("parent_id", "No such task")],
            5: [("parent_id", "The parent must be a task of the same project")],
            7: [("assignee_id", "The assignee must be a member of the project")],
        }
        assert results[3]["task"]["parent_id"] == results[0]["task"]["id"]
        assert results[2]["task"]["parent_id"] == parent["id"]
        assert results[9]["task"]["parent_id"] == parent["id"]
        assert results[6]["task"]["assignee_id"] == other_user.id
        assert results[8]["task"]["assignee_id"] == user.id

        atomic = await _bulk(client, user, operations)
        assert atomic.status_code == 409, atomic.text
        assert [r["status"] for r in atomic.json()["results"]] == [
            424,
            424,
            424,
            424,
            422,
            422,
            424,
            422,
            424,
            424,
        ]

    async def test_run_aborted_by_a_deadlock_answers_409_at_its_first_create(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user, title="first")
        engine: AsyncEngine = app.state.engine
        async with engine.connect() as other:
            transaction = await other.begin()
            # the run's insert checks its created_by key against this row: it waits for it
            await other.execute(
                text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user.id}
            )
            request = asyncio.create_task(
                _bulk(
                    client,
                    user,
                    [
                        {"op": "update", "id": first["id"], "version": 1, "data": {"title": "a"}},
                        {"op": "create", "data": {"title": "one"}},
                        {"op": "create", "data": {"title": "two"}},
                        {"op": "delete", "id": first["id"]},
                    ],
                )
            )
            await _until_a_backend_waits_for_a_lock(engine)
            # the batch holds `first`; waiting for it closes the cycle
            await other.execute(
                text("SELECT id FROM tasks WHERE id = :id FOR UPDATE"), {"id": first["id"]}
            )
            response = await request
            await transaction.rollback()

        assert response.status_code == 409, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [424, 409, 424, 424]
        assert results[1]["problem"]["type"] == "/problems/conflict"
        assert await _task_count(app, user) == (1, 1)

    async def test_non_atomic_run_aborted_by_a_deadlock_is_done_again_one_by_one(
        self, app: Any, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user, title="first")
        parent = await create_task(client, user, title="parent")
        lock = "SELECT id FROM tasks WHERE id = :id FOR UPDATE"
        engine: AsyncEngine = app.state.engine
        async with engine.connect() as other:
            transaction = await other.begin()
            await other.execute(text(lock), {"id": parent["id"]})
            request = asyncio.create_task(
                _bulk(
                    client,
                    user,
                    [
                        {"op": "update", "id": first["id"], "version": 1, "data": {"title": "a"}},
                        {"op": "create", "data": {"title": "child", "parent_id": parent["id"]}},
                        {"op": "create", "data": {"title": "two"}},
                    ],
                    atomic=False,
                )
            )
            await _until_a_backend_waits_for_a_lock(engine)
            # the batch holds `first` and waits for `parent`: PostgreSQL aborts the batch's
            # check of the child (its wait began first); done again alone, the child waits
            # again, and either this transaction or the child alone is aborted this time
            with contextlib.suppress(DBAPIError):
                await other.execute(text(lock), {"id": first["id"]})
            await transaction.rollback()
            response = await request

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        statuses = [r["status"] for r in results]
        assert statuses in ([200, 201, 201], [200, 409, 201])
        if statuses[1] == 201:
            assert results[1]["task"]["parent_id"] == parent["id"]
        else:
            assert results[1]["problem"]["type"] == "/problems/conflict"
        assert results[2]["task"]["title"] == "two"
        created = 1 if statuses[1] == 201 else 0
        assert await _task_count(app, user) == (3 + created, 4 + created)


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

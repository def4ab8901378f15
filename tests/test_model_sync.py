"""Model-based test of sync (issue 6): whatever several users do, each user's simulated client,
having applied a snapshot and then `/sync` changes, holds exactly what the server lists for them.

Random sequences of creates, updates, deletes, restores, moves, bulk batches, shares and
unshares run against a real server process (``live_server``) through a sync HTTP client. After
every step each user's ``Replica`` catches up (``/sync?cursor``) and is compared with
``GET /tasks`` and ``GET /projects``. A change shows in the log once every older transaction in
the cluster has ended, so the comparison waits, for a bounded time, until the two agree.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.fixtures.factories import DEFAULT_PASSWORD, unique_email
from tests.fixtures.server import LiveServer, live_server
from tests.fixtures.sync import SYNC, WAIT_SECONDS, Replica

USERS = 3
ACCEPTED = frozenset({200, 201, 204, 403, 404, 409, 422, 428})


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(database_url, tmp_path_factory.mktemp("model-sync")) as running:
        yield running


class Account:
    """A user of the model: their token, Inbox and replica."""

    def __init__(self, http: httpx.Client, index: int) -> None:
        self.http = http
        self.email = unique_email(f"model{index}")
        registered = http.post(
            "/api/v1/auth/register", json={"email": self.email, "password": DEFAULT_PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = http.post(
            "/api/v1/auth/login", json={"email": self.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 200, login.text
        http.cookies.clear()
        self.id: str = login.json()["user"]["id"]
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        self.replica = Replica(self.id, fetch_tasks=self.listed_tasks_of)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code in ACCEPTED, (method, path, response.text)
        return response

    def pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params = {**params, "limit": 200}
        while True:
            body = self.call("GET", path, params=params).json()
            items.extend(body["items"])
            if body["next_cursor"] is None:
                return items
            params["cursor"] = body["next_cursor"]

    def listed_tasks_of(self, project_id: str) -> list[dict[str, Any]]:
        response = self.http.get(
            "/api/v1/tasks", params={"project_id": project_id, "limit": 1}, headers=self.headers
        )
        if response.status_code == 404:  # access lost again since: the stream will say so
            return []
        return self.pages("/api/v1/tasks", {"project_id": project_id})

    def start_replica(self) -> None:
        params: dict[str, Any] = {"limit": 2}  # small pages: the snapshot paging is exercised
        while True:
            page = self.call("GET", SYNC, params=params).json()
            self.replica.apply_snapshot_page(page)
            if page["page_cursor"] is None:
                return
            params = {"page_cursor": page["page_cursor"], "limit": 2}

    def catch_up(self) -> None:
        assert self.replica.cursor is not None
        while True:
            body = self.call("GET", SYNC, params={"cursor": self.replica.cursor}).json()
            self.replica.apply_changes(body["changes"])
            self.replica.cursor = body["cursor"]
            if not body["has_more"]:
                return

    def server_view(self) -> tuple[dict[str, Any], dict[str, tuple[str, int, str]]]:
        tasks = {task["id"]: task for task in self.pages("/api/v1/tasks", {})}
        projects = {
            p["id"]: (p["name"], p["version"], p["role"])
            for p in self.pages("/api/v1/projects", {})
        }
        return tasks, projects


class SyncModel(RuleBasedStateMachine):
    base_url = ""
    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        self.accounts: list[Account] = []
        # (project id, owner index); each user's Inbox and one shareable project
        self.projects: list[tuple[str, int]] = []
        self.shareable: list[tuple[str, int]] = []
        self.members: dict[int, set[int]] = {i: set() for i in range(USERS)}

    @initialize(target=tasks)
    def users(self) -> Any:
        created: list[str] = []
        for index in range(USERS):
            account = Account(self.http, index)
            self.accounts.append(account)
            listed = account.pages("/api/v1/projects", {})
            self.projects.append((listed[0]["id"], index))
            project = account.call("POST", "/api/v1/projects", json={"name": f"P{index}"}).json()
            self.projects.append((project["id"], index))
            self.shareable.append((project["id"], index))
            # tasks older than every replica: a member who joins later must fetch them
            response = account.call(
                "POST",
                "/api/v1/tasks/bulk",
                json={
                    "operations": [
                        {"op": "create", "data": {"title": f"seed{i}", "project_id": project["id"]}}
                        for i in range(2)
                    ]
                },
            )
            created.extend(result["task"]["id"] for result in response.json()["results"])
        for account in self.accounts:
            account.start_replica()
        return multiple(*created)

    def teardown(self) -> None:
        self.http.close()

    # ------------------------------------------------------------ changes

    @rule(
        target=tasks,
        actor=st.integers(0, USERS - 1),
        own=st.booleans(),
        project=st.integers(0, 2 * USERS - 1),
    )
    def create(self, actor: int, own: bool, project: int) -> str:
        # mostly a project of the actor's own (Inbox or shareable); else any, maybe not writable
        project_id = self.projects[2 * actor + project % 2 if own else project][0]
        response = self.accounts[actor].call(
            "POST",
            "/api/v1/tasks",
            json={"title": f"t{uuid.uuid4().hex[:6]}", "project_id": project_id},
        )
        return str(response.json()["id"]) if response.status_code == 201 else str(uuid.uuid4())

    def _current(self, actor: int, task_id: str) -> dict[str, Any] | None:
        response = self.accounts[actor].call("GET", f"/api/v1/tasks/{task_id}")
        return response.json() if response.status_code == 200 else None

    @rule(
        actor=st.integers(0, USERS - 1),
        task_id=tasks,
        status=st.sampled_from(["todo", "in_progress", "done"]),
        stale=st.booleans(),
    )
    def update(self, actor: int, task_id: str, status: str, stale: bool) -> None:
        current = self._current(actor, task_id)
        if current is None:
            return
        version = current["version"] + 1 if stale else current["version"]
        self.accounts[actor].call(
            "PATCH",
            f"/api/v1/tasks/{task_id}",
            json={"version": version, "status": status, "title": f"u{uuid.uuid4().hex[:6]}"},
        )

    @rule(actor=st.integers(0, USERS - 1), task_id=tasks, project=st.integers(0, 2 * USERS - 1))
    def move(self, actor: int, task_id: str, project: int) -> None:
        current = self._current(actor, task_id)
        if current is None:
            return
        self.accounts[actor].call(
            "PATCH",
            f"/api/v1/tasks/{task_id}",
            json={
                "version": current["version"],
                "project_id": self.projects[project][0],
                "parent_id": None,
            },
        )

    @rule(actor=st.integers(0, USERS - 1), task_id=tasks)
    def delete(self, actor: int, task_id: str) -> None:
        self.accounts[actor].call("DELETE", f"/api/v1/tasks/{task_id}")

    @rule(actor=st.integers(0, USERS - 1), task_id=tasks)
    def restore(self, actor: int, task_id: str) -> None:
        self.accounts[actor].call("POST", f"/api/v1/tasks/{task_id}/restore")

    @rule(
        actor=st.integers(0, USERS - 1),
        existing=st.lists(tasks, max_size=3),
        creates=st.integers(0, 3),
        atomic=st.booleans(),
    )
    def bulk(self, actor: int, existing: list[str], creates: int, atomic: bool) -> None:
        operations: list[dict[str, Any]] = [
            {"op": "create", "ref": f"r{i}", "data": {"title": f"b{i}"}} for i in range(creates)
        ]
        if creates:
            operations.append({"op": "create", "data": {"title": "sub", "parent_id": "r0"}})
        for i, task_id in enumerate(existing):
            current = self._current(actor, task_id)
            if current is None:
                operations.append({"op": "restore", "id": task_id})
            elif i % 2:
                operations.append({"op": "delete", "id": task_id, "version": current["version"]})
            else:
                operations.append(
                    {
                        "op": "update",
                        "id": task_id,
                        "version": current["version"],
                        "data": {"priority": (current["priority"] + 1) % 5},
                    }
                )
        if not operations:
            return
        response = self.accounts[actor].call(
            "POST", "/api/v1/tasks/bulk", json={"atomic": atomic, "operations": operations}
        )
        assert response.status_code in (200, 409)

    @rule(owner=st.integers(0, USERS - 1), pick=st.integers(0, USERS), viewer=st.booleans())
    def share(self, owner: int, pick: int, viewer: bool) -> None:
        project_id, _ = self.shareable[owner]
        others = [i for i in range(USERS) if i != owner and i not in self.members[owner]]
        member = others[pick % len(others)] if others else pick % USERS  # else: 409
        response = self.accounts[owner].call(
            "POST",
            f"/api/v1/projects/{project_id}/members",
            json={"email": self.accounts[member].email, "role": "viewer" if viewer else "editor"},
        )
        if response.status_code == 201:
            self.members[owner].add(member)

    @rule(owner=st.integers(0, USERS - 1), pick=st.integers(0, USERS), leaves=st.booleans())
    def unshare(self, owner: int, pick: int, leaves: bool) -> None:
        project_id, _ = self.shareable[owner]
        members = sorted(self.members[owner]) or [pick % USERS]  # the owner itself: 409
        member = members[pick % len(members)]
        # the owner removes the member, or the member leaves by itself
        actor = self.accounts[member if leaves else owner]
        response = actor.call(
            "DELETE", f"/api/v1/projects/{project_id}/members/{self.accounts[member].id}"
        )
        if response.status_code == 204:
            self.members[owner].discard(member)

    # ------------------------------------------------------------ the property

    @invariant()
    def replicas_hold_what_the_server_lists(self) -> None:
        if not self.accounts:
            return
        for account in self.accounts:
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                account.catch_up()
                tasks, projects = account.server_view()
                held = (account.replica.tasks, account.replica.project_view())
                if held == (tasks, projects) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert account.replica.project_view() == projects
            assert account.replica.tasks == tasks


def test_sync_replicas_match_the_server(server: LiveServer) -> None:
    SyncModel.base_url = server.base_url
    run_state_machine_as_test(
        SyncModel,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )

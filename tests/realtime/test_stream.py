"""What a socket receives (API.md §6, §8): live changes to the members of a project only, in log
order; access that follows membership; narrowing by subscribe; resume with no gap and no
duplicate; cursors that cannot be resumed."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import httpx

from taskapi.events import writer
from taskapi.events.reader import EventCursors, Position
from taskapi.kit.cursors import CursorCodec
from tests.conftest import TEST_SECRET
from tests.fixtures.factories import UserSession, register_user
from tests.realtime.conftest import (
    InProcessServer,
    add_member,
    changes,
    closed_with,
    create_project,
    create_task,
    open_socket,
    quiet,
    receive,
    remove_member,
    shared_project,
)

CHANGE_FIELDS = {
    "type",
    "event_id",
    "cursor",
    "event",
    "entity",
    "id",
    "version",
    "project_id",
    "actor_id",
    "data",
    "ts",
}


def task_ids(received: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in received if c["event"] == "task.created"]


def has_tasks(count: int) -> Any:
    return lambda received: len(task_ids(received)) >= count


class TestLiveDelivery:
    async def test_change_reaches_members_in_the_change_shape(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        task = await create_task(api, user=alice, project_id=project_id, title="hello")
        [change] = [c for c in await changes(ws, until=has_tasks(1)) if c["entity"] == "task"]
        assert set(change) == CHANGE_FIELDS
        assert change["event"] == "task.created"
        assert change["entity"] == "task"
        assert change["id"] == task["id"]
        assert change["project_id"] == project_id
        assert change["actor_id"] == alice.id
        assert change["data"]["title"] == "hello"
        await ws.close()

    async def test_non_member_receives_nothing(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await create_project(api, owner=alice)
        outsider = await open_socket(ws_server, token=bob.access_token)
        owner = await open_socket(ws_server, token=alice.access_token)
        await create_task(api, user=alice, project_id=project_id)
        await changes(owner, until=has_tasks(1))
        assert await quiet(outsider) == []
        await outsider.close()
        await owner.close()

    async def test_changes_arrive_in_log_order(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        made = [(await create_task(api, user=alice, project_id=project_id))["id"] for _ in range(5)]
        received = await changes(ws, until=has_tasks(5))
        assert task_ids(received) == made
        event_ids = [c["event_id"] for c in received]
        assert event_ids == sorted(event_ids)
        await ws.close()


class TestMembership:
    async def test_removed_member_gets_access_revoked_then_nothing(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        watcher = await open_socket(ws_server, token=alice.access_token)
        await remove_member(api, owner=alice, project_id=project_id, member=bob)
        received = await changes(
            ws, until=lambda r: any(c["event"] == "project.access_revoked" for c in r)
        )
        assert received[-1]["project_id"] == project_id
        await create_task(api, user=alice, project_id=project_id)
        await changes(watcher, until=has_tasks(1))
        assert await quiet(ws) == []
        await ws.close()
        await watcher.close()

    async def test_added_member_gets_access_granted_then_changes(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await create_project(api, owner=alice)
        ws = await open_socket(ws_server, token=bob.access_token)
        await add_member(api, owner=alice, project_id=project_id, member=bob)
        task = await create_task(api, user=alice, project_id=project_id)
        received = await changes(ws, until=has_tasks(1))
        events = [c["event"] for c in received]
        assert events.index("project.access_granted") < events.index("task.created")
        assert task_ids(received) == [task["id"]]
        await ws.close()


class TestSubscribe:
    async def test_narrows_to_the_listed_projects(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        first = await shared_project(api, owner=alice, members=[bob])
        second = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        await ws.send(f'{{"type":"subscribe","project_ids":["{first}"]}}')
        assert await receive(ws) == {"type": "subscribed", "project_ids": [first]}
        await create_task(api, user=alice, project_id=second)
        wanted = await create_task(api, user=alice, project_id=first)
        received = await changes(ws, until=has_tasks(1))
        assert task_ids(received) == [wanted["id"]]
        await ws.close()

    async def test_answers_only_visible_projects(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        visible = await shared_project(api, owner=alice, members=[bob])
        hidden = await create_project(api, owner=alice)
        ws = await open_socket(ws_server, token=bob.access_token)
        await ws.send(f'{{"type":"subscribe","project_ids":["{visible}","{hidden}"]}}')
        assert await receive(ws) == {"type": "subscribed", "project_ids": [visible]}
        await ws.close()

    async def test_null_streams_every_project_again(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        first = await shared_project(api, owner=alice, members=[bob])
        second = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        await ws.send(f'{{"type":"subscribe","project_ids":["{first}"]}}')
        await receive(ws)
        await ws.send('{"type":"subscribe","project_ids":null}')
        answer = await receive(ws)
        assert answer["type"] == "subscribed"
        assert {first, second} <= set(answer["project_ids"])
        task = await create_task(api, user=alice, project_id=second)
        assert task_ids(await changes(ws, until=has_tasks(1))) == [task["id"]]
        await ws.close()


async def _cursor_now(server: InProcessServer, user: UserSession) -> str:
    ws = await open_socket(server, token=user.access_token, ready=False)
    cursor: str = (await receive(ws))["cursor"]
    await ws.close()
    return cursor


class TestResume:
    async def test_since_on_connect_replays_the_missed_changes_then_goes_live(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        cursor = await _cursor_now(ws_server, bob)
        missed = [
            (await create_task(api, user=alice, project_id=project_id))["id"] for _ in range(3)
        ]
        ws = await open_socket(ws_server, token=bob.access_token, since=cursor)
        live = await create_task(api, user=alice, project_id=project_id)
        received = await changes(ws, until=has_tasks(4))
        assert task_ids(received) == [*missed, live["id"]]
        assert await quiet(ws) == []
        await ws.close()

    async def test_no_gap_and_no_duplicate_while_changes_keep_arriving(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        cursor = await _cursor_now(ws_server, bob)
        made: list[str] = []

        async def keep_writing() -> None:
            for _ in range(40):
                made.append((await create_task(api, user=alice, project_id=project_id))["id"])

        writing = asyncio.create_task(keep_writing())
        while len(made) < 10:
            await asyncio.sleep(0.01)
        ws = await open_socket(ws_server, token=bob.access_token, since=cursor)
        await writing
        received = await changes(ws, until=has_tasks(40))
        assert task_ids(received) == made
        assert await quiet(ws) == []
        await ws.close()

    async def test_resume_message_replays_on_a_live_socket(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        cursor = await _cursor_now(ws_server, bob)
        missed = [
            (await create_task(api, user=alice, project_id=project_id))["id"] for _ in range(2)
        ]
        ws = await open_socket(ws_server, token=bob.access_token)
        await ws.send(f'{{"type":"resume","since":"{cursor}"}}')
        live = await create_task(api, user=alice, project_id=project_id)
        received = await changes(ws, until=has_tasks(3))
        assert task_ids(received) == [*missed, live["id"]]
        assert await quiet(ws) == []
        await ws.close()

    async def test_a_change_cursor_resumes_after_that_change(
        self,
        ws_server: InProcessServer,
        api: httpx.AsyncClient,
        alice: UserSession,
        bob: UserSession,
    ) -> None:
        project_id = await shared_project(api, owner=alice, members=[bob])
        ws = await open_socket(ws_server, token=bob.access_token)
        await create_task(api, user=alice, project_id=project_id)
        received = await changes(ws, until=has_tasks(1))
        # membership changes of the set-up may arrive first: resume after the task's change
        first = next(c for c in received if c["event"] == "task.created")
        await ws.close()
        later = await create_task(api, user=alice, project_id=project_id)
        ws = await open_socket(ws_server, token=bob.access_token, since=first["cursor"])
        assert task_ids(await changes(ws, until=has_tasks(1))) == [later["id"]]
        await ws.close()


def _tampered(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


class TestCursorProblems:
    async def test_tampered_resume_answers_an_error_and_stays_open(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        await ws.send(
            f'{{"type":"resume","since":"{_tampered(await _cursor_now(ws_server, alice))}"}}'
        )
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["problem"]["type"] == "/problems/invalid-cursor"
        await ws.send('{"type":"ping"}')
        assert await receive(ws) == {"type": "pong"}
        await ws.close()

    async def test_tampered_since_answers_an_error_and_streams_live(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, alice: UserSession
    ) -> None:
        project_id = await create_project(api, owner=alice)
        cursor = _tampered(await _cursor_now(ws_server, alice))
        ws = await open_socket(ws_server, token=alice.access_token, since=cursor)
        error = await receive(ws)
        assert error["problem"]["type"] == "/problems/invalid-cursor"
        task = await create_task(api, user=alice, project_id=project_id)
        assert task_ids(await changes(ws, until=has_tasks(1))) == [task["id"]]
        await ws.close()

    async def test_cursor_from_the_future_resyncs_4410(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        future = EventCursors(TEST_SECRET, retention_days=30).encode(Position(2**40, 0))
        ws = await open_socket(ws_server, token=alice.access_token, since=future)
        assert await receive(ws) == {"type": "resync"}
        assert await closed_with(ws) == 4410

    async def test_cursor_older_than_retention_resyncs_4410(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        old = CursorCodec(TEST_SECRET, purpose="events").encode(
            [1, 0, int(time.time()) - 31 * 86_400]
        )
        ws = await open_socket(ws_server, token=alice.access_token)
        await ws.send(f'{{"type":"resume","since":"{old}"}}')
        assert await receive(ws) == {"type": "resync"}
        assert await closed_with(ws) == 4410

    async def test_more_than_1000_pending_changes_resync_4410(
        self, ws_server: InProcessServer, api: httpx.AsyncClient, app: Any
    ) -> None:
        user = await register_user(api)
        project_id = await create_project(api, owner=user)
        cursor = await _cursor_now(ws_server, user)
        async with app.state.engine.begin() as conn:
            for version in range(1, 1002):
                await writer.record(
                    conn,
                    type="task.updated",
                    entity="task",
                    entity_id=uuid.uuid4(),
                    project_id=uuid.UUID(project_id),
                    version=version,
                    actor_id=None,
                    data={},
                )
        ws = await open_socket(ws_server, token=user.access_token, since=cursor)
        assert await receive(ws) == {"type": "resync"}
        assert await closed_with(ws) == 4410
        with contextlib.suppress(Exception):
            await ws.close()

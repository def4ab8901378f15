"""The hub's routing rules in memory (mirroring the SQL visibility of ``events_after``), its
hand-over from syncing to live, its revocations and its sweep; sockets are plain recorders."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from taskapi.events.reader import Event, Position
from taskapi.realtime import protocol
from taskapi.realtime.hub import Connection, Hub, Routed


class Recorder:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: list[int] = []

    async def send(self, frame: str) -> None:
        self.frames.append(frame)

    async def close(self, code: int) -> None:
        self.closed.append(code)


def event(
    event_id: int,
    *,
    project_id: uuid.UUID,
    type_: str = "task.updated",
    target_user_id: uuid.UUID | None = None,
    hidden_from: uuid.UUID | None = None,
) -> Routed:
    ev = Event(
        id=event_id,
        xid=100 + event_id,
        project_id=project_id,
        entity="task",
        entity_id=uuid.uuid4(),
        version=1,
        type=type_,
        actor_id=None,
        data={},
        changes=None,
        target_user_id=target_user_id,
        hidden_from_project_id=hidden_from,
        ts=datetime.now(UTC),
    )
    return Routed(ev, f"frame-{event_id}")


def socket(
    hub: Hub, *, user_id: uuid.UUID | None = None, access: set[uuid.UUID] | None = None
) -> tuple[Connection, Recorder]:
    recorder = Recorder()
    conn = Connection(
        user_id=user_id or uuid.uuid4(),
        session_id=uuid.uuid4(),
        expires_at=time.time() + 600,
        send=recorder.send,
        close=recorder.close,
    )
    hub.add(conn)
    conn.access = set(access or ())
    hub.go_live(conn, position=Position(0, 0))
    return conn, recorder


async def settle() -> None:
    """Lets the sender and closer tasks run."""
    await asyncio.sleep(0.05)


class TestRouting:
    async def test_members_only(self) -> None:
        hub = Hub(max_per_user=20)
        project = uuid.uuid4()
        member, seen = socket(hub, access={project})
        outsider, unseen = socket(hub)
        hub.route(event(1, project_id=project))
        await settle()
        assert seen.frames == ["frame-1"]
        assert unseen.frames == []
        for conn in (member, outsider):
            await hub.remove(conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_hidden_from_members_of_the_other_project(self) -> None:
        hub = Hub(max_per_user=20)
        old, new = uuid.uuid4(), uuid.uuid4()
        both, in_both = socket(hub, access={old, new})
        only_old, in_old = socket(hub, access={old})
        hub.route(event(1, project_id=old, type_="task.deleted", hidden_from=new))
        await settle()
        assert in_both.frames == []
        assert in_old.frames == ["frame-1"]
        await hub.remove(both)
        await hub.remove(only_old)

    async def test_access_follows_grant_and_revoke(self) -> None:
        hub = Hub(max_per_user=20)
        project = uuid.uuid4()
        conn, recorder = socket(hub)
        user = conn.user_id
        hub.route(event(1, project_id=project, type_="project.access_granted", target_user_id=user))
        hub.route(event(2, project_id=project))
        hub.route(event(3, project_id=project, type_="project.access_revoked", target_user_id=user))
        hub.route(event(4, project_id=project))
        await settle()
        assert recorder.frames == ["frame-1", "frame-2", "frame-3"]
        assert hub.by_project == {}
        await hub.remove(conn)

    async def test_target_user_events_reach_only_that_user(self) -> None:
        hub = Hub(max_per_user=20)
        project = uuid.uuid4()
        target, got = socket(hub, access={project})
        other, missed = socket(hub, access={project})
        hub.route(
            event(
                1, project_id=project, type_="project.access_granted", target_user_id=target.user_id
            )
        )
        await settle()
        assert got.frames == ["frame-1"]
        assert missed.frames == []
        await hub.remove(target)
        await hub.remove(other)


class TestHandOver:
    async def test_pending_events_after_the_position_are_delivered_once(self) -> None:
        hub = Hub(max_per_user=20)
        project = uuid.uuid4()
        recorder = Recorder()
        conn = Connection(
            user_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            expires_at=time.time() + 600,
            send=recorder.send,
            close=recorder.close,
        )
        hub.add(conn)
        conn.access = {project}
        for event_id in (1, 2, 3):
            hub.route(event(event_id, project_id=project))
        hub.go_live(conn, position=event(2, project_id=project).position)
        hub.route(event(3, project_id=project))  # a repeat is dropped
        hub.route(event(4, project_id=project))
        await settle()
        assert recorder.frames == ["frame-3", "frame-4"]
        await hub.remove(conn)

    async def test_too_many_pending_events_resync(self) -> None:
        hub = Hub(max_per_user=20)
        project = uuid.uuid4()
        recorder = Recorder()
        conn = Connection(
            user_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            expires_at=time.time() + 600,
            send=recorder.send,
            close=recorder.close,
        )
        hub.add(conn)
        for event_id in range(1, protocol.MAX_REPLAY + 2):
            hub.route(event(event_id, project_id=project))
        await settle()
        assert recorder.frames[-1] == protocol.RESYNC_MESSAGE
        assert recorder.closed == [protocol.RESYNC]
        await hub.remove(conn)


class TestRevocation:
    async def test_one_session_or_all_but_one(self) -> None:
        hub = Hub(max_per_user=20)
        user = uuid.uuid4()
        first, first_rec = socket(hub, user_id=user)
        second, second_rec = socket(hub, user_id=user)
        hub.revoke(user_id=user, session_id=None, except_session_id=second.session_id)
        await settle()
        assert first_rec.closed == [protocol.UNAUTHORIZED]
        assert second_rec.closed == []
        hub.revoke(user_id=user, session_id=second.session_id, except_session_id=None)
        await settle()
        assert second_rec.closed == [protocol.UNAUTHORIZED]
        await hub.remove(first)
        await hub.remove(second)


class TestSweep:
    async def test_idle_and_expired_sockets_close(self) -> None:
        hub = Hub(max_per_user=20)
        idle, idle_rec = socket(hub)
        expired, expired_rec = socket(hub)
        fresh, fresh_rec = socket(hub)
        idle.last_seen -= 100
        expired.expires_at = time.time() - 1
        hub.sweep(idle_timeout=60)
        await settle()
        assert idle_rec.closed == [protocol.IDLE]
        assert expired_rec.closed == [protocol.UNAUTHORIZED]
        assert fresh_rec.closed == []
        for conn in (idle, expired, fresh):
            await hub.remove(conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_close_all_sends_going_away(self) -> None:
        hub = Hub(max_per_user=20)
        conn, recorder = socket(hub)
        await hub.close_all(protocol.GOING_AWAY)
        assert recorder.closed == [protocol.GOING_AWAY]
        await hub.remove(conn)

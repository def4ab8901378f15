"""The event log reader never skips and never repeats a committed event, even when
transactions commit out of id order (DESIGN.md "Ordering of events without gaps")."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskapi.events import writer
from taskapi.events.reader import Position, current_position, events_after, history
from taskapi.kit.ids import uuid7


async def _record(conn: AsyncConnection, project_id: uuid.UUID, marker: int) -> None:
    await writer.record(
        conn,
        type="task.updated",
        entity="task",
        entity_id=uuid7(),
        project_id=project_id,
        version=marker,
        actor_id=None,
        data={"marker": marker},
    )


async def _read_all(
    engine: AsyncEngine, position: Position, project_id: uuid.UUID
) -> tuple[list[int], Position]:
    seen: list[int] = []
    while True:
        async with engine.connect() as conn:
            batch = await events_after(
                conn, position, visible_to=None, project_ids=[project_id], limit=7
            )
        seen.extend(event.data["marker"] for event in batch.events)
        position = batch.position
        if not batch.has_more:
            return seen, position


async def _read_until(
    engine: AsyncEngine, position: Position, project_id: uuid.UUID, count: int
) -> tuple[list[int], Position]:
    """Reads until ``count`` events arrived: the horizon is cluster-wide, so transactions of
    other databases on the same server (parallel test runs) may hold events back for a while."""
    seen: list[int] = []
    for _ in range(400):
        batch, position = await _read_all(engine, position, project_id)
        seen.extend(batch)
        if len(seen) >= count:
            break
        await asyncio.sleep(0.05)
    return seen, position


def _engine(app: Any) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


class TestEventsAfter:
    async def test_late_commit_of_an_earlier_id_is_not_skipped(self, app: Any) -> None:
        engine = _engine(app)
        project_id = uuid7()
        async with engine.connect() as conn:
            start = await current_position(conn)
        slow = await engine.connect()
        slow_tx = await slow.begin()
        await _record(slow, project_id, 1)  # takes the lower event id, commits last
        async with engine.begin() as fast:
            await _record(fast, project_id, 2)

        seen, position = await _read_all(engine, start, project_id)
        assert seen == []  # event 2 is held back while event 1's transaction is open

        await slow_tx.commit()
        await slow.close()
        more, _ = await _read_until(engine, position, project_id, 2)
        assert sorted(more) == [1, 2]

    async def test_rolled_back_events_are_never_delivered(self, app: Any) -> None:
        engine = _engine(app)
        project_id = uuid7()
        async with engine.connect() as conn:
            start = await current_position(conn)
        async with engine.connect() as conn:
            tx = await conn.begin()
            await _record(conn, project_id, 1)
            await tx.rollback()
        async with engine.begin() as conn:
            await _record(conn, project_id, 2)
        seen, _ = await _read_until(engine, start, project_id, 1)
        assert seen == [2]

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=16), st.randoms())
    async def test_concurrent_writers_readers_see_each_event_exactly_once(
        self, app: Any, delays: list[int], rnd: random.Random
    ) -> None:
        engine = _engine(app)
        project_id = uuid7()
        async with engine.connect() as conn:
            position = await current_position(conn)

        async def write(marker: int, delay: int) -> None:
            async with engine.begin() as conn:
                await _record(conn, project_id, marker)
                await asyncio.sleep(delay * rnd.random() * 0.01)

        writers = [asyncio.create_task(write(i, d)) for i, d in enumerate(delays)]
        seen: list[int] = []
        while not all(task.done() for task in writers):
            batch, position = await _read_all(engine, position, project_id)
            seen.extend(batch)
            await asyncio.sleep(0.002)
        await asyncio.gather(*writers)
        rest, _ = await _read_until(engine, position, project_id, len(delays) - len(seen))
        seen.extend(rest)
        assert sorted(seen) == list(range(len(delays)))
        assert len(seen) == len(set(seen))

    async def test_visibility_follows_current_membership(self, app: Any, user: Any) -> None:
        engine = _engine(app)
        user_id = uuid.UUID(user.id)
        async with engine.connect() as conn:
            start = await current_position(conn)
            inbox = (
                await conn.execute(
                    text("SELECT id FROM projects WHERE owner_id = :u AND is_inbox"), {"u": user_id}
                )
            ).scalar_one()
        foreign = uuid7()
        async with engine.begin() as conn:
            await _record(conn, inbox, 1)
            await _record(conn, foreign, 2)
            await writer.record(
                conn,
                type="project.access_granted",
                entity="project",
                entity_id=foreign,
                project_id=foreign,
                version=1,
                actor_id=None,
                data={"marker": 3},
                target_user_id=user_id,
            )
            await writer.record(
                conn,
                type="task.deleted",
                entity="task",
                entity_id=uuid7(),
                project_id=inbox,
                version=2,
                actor_id=None,
                data={"marker": 4},
                hidden_from_project_id=inbox,
            )
        markers: list[int] = []
        position = start
        for _ in range(400):
            async with engine.connect() as conn:
                batch = await events_after(conn, position, visible_to=user_id)
            markers.extend(event.data["marker"] for event in batch.events)
            position = batch.position
            if len(markers) >= 2:
                break
            await asyncio.sleep(0.05)
        assert markers == [1, 3]

    async def test_cursor_round_trip_and_change_shape(self, app: Any) -> None:
        engine = _engine(app)
        project_id = uuid7()
        async with engine.connect() as conn:
            start = await current_position(conn)
        async with engine.begin() as conn:
            await _record(conn, project_id, 9)
        for _ in range(400):
            async with engine.connect() as conn:
                batch = await events_after(conn, start, visible_to=None, project_ids=[project_id])
            if batch.events:
                break
            await asyncio.sleep(0.05)
        (event,) = batch.events
        cursors = app.state.event_cursors
        cursor = cursors.encode(event.position)
        assert cursors.decode(cursor) == event.position
        change = event.change(cursor)
        assert set(change) == {
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
        assert change["ts"].endswith("Z")
        async with engine.connect() as conn:
            (again,) = await history(conn, entity_id=event.entity_id, before_id=None, limit=10)
        assert again.id == event.id

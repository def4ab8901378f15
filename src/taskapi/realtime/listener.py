"""The fan-out: one ``LISTEN`` connection per process turns committed events into hub routes.

A notification only wakes the reader; events are read with ``events_after`` (no skip, no repeat)
on short pooled connections that never write, from the last position routed, so a missed
notification, a late commit below the horizon or a database outage only delays delivery. A
wake-up that finds nothing new (the change is still behind an older transaction) is followed by
quick re-reads (5 ms, doubling); a poll every ``poll_interval`` is the safety net. Revocations
are applied in the notification callback; before each batch is routed, a round trip on the LISTEN
connection flushes the notifications sent before the batch was read, so a revoked socket is closed
before any later change reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from taskapi.auth import repository as auth_repository
from taskapi.db import CONNECT_TIMEOUT_SECONDS, asyncpg_dsn
from taskapi.events.reader import EventCursors, Position, current_position, events_after
from taskapi.events.writer import NOTIFY_CHANNEL, REVOCATION_CHANNEL
from taskapi.realtime import protocol
from taskapi.realtime.hub import Hub, Routed

log = structlog.get_logger(__name__)

APPLICATION_NAME = "taskapi-listener"
BATCH = 500
MAX_BACKOFF_SECONDS = 5.0
QUICK_RETRY_SECONDS = 0.005


class Listener:
    """Reads the log after ``position`` whenever woken and routes each event once."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        database_url: str,
        hub: Hub,
        cursors: EventCursors,
        poll_interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.dsn = asyncpg_dsn(database_url)
        self.hub = hub
        self.cursors = cursors
        self.poll_interval = poll_interval
        self.position: Position | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Listens until cancelled, reconnecting with back-off when the connection drops."""
        backoff = 0.1
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("ws.listener.down", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            else:  # pragma: no cover - _session only returns by raising
                backoff = 0.1

    async def _session(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_event)
            await conn.add_listener(REVOCATION_CHANNEL, self._on_revocation)
            if self.position is None:
                async with self.engine.connect() as db:
                    self.position = await current_position(db)
            else:
                self.reconnects += 1
                await self._recheck_sessions()  # a revocation may have been missed meanwhile
            self.connected.set()
            log.info("ws.listener.up", reconnects=self.reconnects)
            self._wake.set()  # catch up from the last routed position
            retry: float | None = None  # the next quick re-read after an empty wake-up
            while not lost.is_set():
                woken = False
                with contextlib.suppress(TimeoutError):
                    woken = await asyncio.wait_for(
                        self._wake.wait(), self.poll_interval if retry is None else retry
                    )
                self._wake.clear()
                routed = await self._drain(conn)
                retry = _next_retry(retry, woken=woken, routed=routed, limit=self.poll_interval)
            raise ConnectionError("the LISTEN connection was lost")
        finally:
            self.connected.clear()
            with contextlib.suppress(Exception):
                conn.terminate()

    def _on_event(self, *_: Any) -> None:
        self._wake.set()

    def _on_revocation(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            body = orjson.loads(payload)
            self.hub.revoke(
                user_id=uuid.UUID(body["user_id"]),
                session_id=_uuid_or_none(body.get("session_id")),
                except_session_id=_uuid_or_none(body.get("except_session_id")),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ws.revocation.malformed")

    async def _drain(self, listen: asyncpg.Connection) -> int:
        """Routes every event readable after ``position``, in log order; how many."""
        assert self.position is not None
        routed = 0
        while True:
            async with self.engine.connect() as db:
                # one statement, no transaction: no BEGIN/ROLLBACK round trips, and no xid
                reader = await db.execution_options(isolation_level="AUTOCOMMIT")
                batch = await events_after(reader, self.position, visible_to=None, limit=BATCH)
            # notifications sent before that read (revocations) arrive ahead of this reply
            await listen.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
            for event in batch.events:
                frame = protocol.change(event.change(self.cursors.encode(event.position)))
                self.hub.route(Routed(event, frame))
            routed += len(batch.events)
            self.position = batch.position
            if not batch.has_more:
                return routed

    async def _recheck_sessions(self) -> None:
        """Closes the sockets whose session ended while no revocation could be heard."""
        sessions = {(conn.user_id, conn.session_id) for conn in self.hub.connections}
        ended = []
        async with self.engine.connect() as db:
            for user_id, session_id in sessions:
                user = await auth_repository.user_of_live_session(
                    db, user_id=user_id, session_id=session_id
                )
                if user is None:
                    ended.append((user_id, session_id))
            await db.rollback()
        for user_id, session_id in ended:
            self.hub.revoke(user_id=user_id, session_id=session_id, except_session_id=None)


def _next_retry(retry: float | None, *, woken: bool, routed: int, limit: float) -> float | None:
    """When to read again without a notification: soon after a wake-up that found nothing.

    A notified change is readable only once every older write transaction in the cluster has
    ended; one that ends without writing an event sends no notification, so instead of waiting
    for the poll the listener re-reads after 5 ms, then 10, 20, … up to the poll interval.
    """
    if routed:
        return None
    if woken:
        return QUICK_RETRY_SECONDS
    if retry is None or retry * 2 > limit:
        return None
    return retry * 2


def _uuid_or_none(value: object) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))

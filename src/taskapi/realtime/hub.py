"""The per-process hub: this process's open sockets, indexed by user and by project.

Routing an event never waits for a client. Each event's text frame is built once
(``Routed.wire``); a socket served by uvicorn's legacy ``websockets`` protocol gets it written
straight to its transport, synchronously, in the routing loop (``taskapi.realtime.wire``), and is
closed with 4429 when its transport's write buffer passes ``SEND_QUEUE_BYTES``. Any other socket,
or one whose transport is not writable that way yet (handshake still in progress), gets the frame
in its bounded send queue, drained through the ASGI ``send`` by a sender task started on first use;
while that queue holds anything (or a send is in flight), later frames queue behind it, so one
connection's frames always leave in order. Access is decided per connection at
delivery, mirroring the SQL visibility rule of ``taskapi.events.reader`` in memory: an event with
``target_user_id`` goes to that user only; any other event to the connections whose user may read
``project_id`` now and is not a member of ``hidden_from_project_id``. Access follows the log: a
``project.access_granted`` / ``project.access_revoked`` event updates the set as it is delivered,
so a removed member gets the revocation and then nothing more of that project.

A connection is *syncing* from registration until its stream starts (``go_live``): meanwhile the
events routed to the process are kept in its ``pending`` list, so none falls between the
position read for it and the live stream; ``go_live`` delivers those after that position.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from taskapi.events.reader import Event, Position
from taskapi.realtime import protocol
from taskapi.realtime.wire import Wire, text_frame

log = structlog.get_logger(__name__)

SEND_QUEUE_MESSAGES = 1_100  # a replay (≤ 1,000) plus some live changes
SEND_QUEUE_BYTES = 4 * 1024 * 1024  # also the bound of a transport's write buffer
CLOSE_GRACE_SECONDS = 15.0  # above the server's close_timeout, after which it aborts

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Routed:
    """An event as the fan-out hands it to the hub: read once, serialised once."""

    event: Event
    frame: str
    wire: bytes = field(init=False, repr=False)  # the text frame's bytes, the same for everyone
    position: Position = field(init=False, repr=False)  # built once, compared per socket

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire", text_frame(self.frame.encode()))
        object.__setattr__(self, "position", self.event.position)


class Connection:
    """One socket: who it is, what it may see, where its stream is, and its send queue."""

    def __init__(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        expires_at: float,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        wire: Wire | None = None,
    ) -> None:
        self.id = next(_ids)
        self.user_id = user_id
        self.session_id = session_id
        self.expires_at = expires_at
        self.opened_at = time.monotonic()
        self.last_seen = self.opened_at
        self.access: set[uuid.UUID] = set()
        self.indexed: set[uuid.UUID] = set()  # the hub's by_project keys holding this socket
        self.subscription: frozenset[uuid.UUID] | None = None
        self.position = Position(0, 0)
        self.pending: list[Routed] | None = []  # a list while syncing, None once live
        self.queue: deque[str] = deque()
        self.queued_bytes = 0
        self.wakeup = asyncio.Event()
        self.close_code: int | None = None
        self.recent: deque[float] = deque(maxlen=protocol.MAX_MESSAGES_PER_SECOND)
        self.expiry: asyncio.TimerHandle | None = None
        self._send = send
        self._close = close
        self.wire = wire
        self.in_flight = False  # the sender is inside an ASGI send
        self.hub: Hub | None = None
        self.sender: asyncio.Task[None] | None = None
        self.last_frame: str | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user_id}>"

    @property
    def live(self) -> bool:
        return self.pending is None and self.close_code is None

    def streamed(self) -> set[uuid.UUID]:
        """The projects whose events this socket receives (its access, narrowed if subscribed)."""
        if self.subscription is None:
            return set(self.access)
        return self.access & self.subscription

    def enqueue(self, frame: str, *, bounded: bool = True, wire: bytes | None = None) -> None:
        """Sends a frame after every earlier one; past the bound the socket is closed (4429).

        Written to the transport at once when it can be (``wire``: the frame's bytes, if already
        built), else queued for the sender task.
        """
        if self.close_code is not None:
            return
        if self.wire is not None and not self.queue and not self.in_flight:
            buffered = self.wire.write(wire or text_frame(frame.encode()))
            if buffered is not None:
                if bounded and buffered > SEND_QUEUE_BYTES:
                    self.close(protocol.TOO_MANY, "slow")
                return
        if bounded and (
            len(self.queue) >= SEND_QUEUE_MESSAGES or self.queued_bytes >= SEND_QUEUE_BYTES
        ):
            self.close(protocol.TOO_MANY, "slow")
            return
        self.queue.append(frame)
        self.queued_bytes += len(frame)
        self.wakeup.set()
        if self.sender is None and self.hub is not None:
            self.sender = self.hub.spawn(self, self.run_sender())

    def received(self) -> bool:
        """Records a client message; False when it is one too many within a second."""
        now = time.monotonic()
        self.last_seen = now
        full = len(self.recent) == self.recent.maxlen
        if full and now - self.recent[0] < 1.0:
            return False
        self.recent.append(now)
        return True

    def apply(self, routed: Routed) -> None:
        """Delivers one event if this socket may see it now, and follows access changes."""
        event = routed.event
        position = routed.position
        if position <= self.position:
            return  # already delivered (or replayed) on this socket
        self.position = position
        if event.target_user_id is not None:
            if event.target_user_id == self.user_id:
                self.enqueue(routed.frame, wire=routed.wire)
                self.follow_access(event)
            return
        if event.project_id not in self.access:
            return
        if event.hidden_from_project_id is not None and event.hidden_from_project_id in self.access:
            return
        if self.subscription is not None and event.project_id not in self.subscription:
            return
        self.enqueue(routed.frame, wire=routed.wire)

    def follow_access(self, event: Event) -> None:
        """Applies the access change an event carries for this socket's user, if any."""
        if event.target_user_id != self.user_id:
            return
        if event.type == "project.access_granted":
            self._set_access(event.project_id, True)
        elif event.type == "project.access_revoked":
            self._set_access(event.project_id, False)

    def _set_access(self, project_id: uuid.UUID, granted: bool) -> None:
        if granted:
            self.access.add(project_id)
        else:
            self.access.discard(project_id)
        if self.hub is not None and self.pending is None:
            self.hub.reindex(self)

    def close(self, code: int, reason: str = "", *, last: str | None = None) -> None:
        """Stops delivery at once and closes the socket with ``code`` (the first code wins).

        Queued frames are dropped, unless ``last`` (``resync``) is given: then they are sent,
        followed by ``last``, before the close.
        """
        if self.close_code is not None:
            return
        self.close_code = code
        self.last_frame = last
        if last is None:
            self.queue.clear()
            self.queued_bytes = 0
        self.wakeup.set()
        if self.hub is not None:
            self.hub.closing(self, reason)

    async def run_sender(self) -> None:
        """The sender task: writes queued frames in order, then the close frame if asked."""
        try:
            while self.close_code is None:
                if not self.queue:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                frame = self.queue.popleft()
                self.queued_bytes -= len(frame)
                self.in_flight = True
                await self._send(frame)
                self.in_flight = False
        except Exception:
            return  # the peer is gone: the receiving side sees the disconnect and cleans up

    async def send_close(self) -> None:
        # the server's close handshake is bounded by its own close_timeout (it then aborts)
        with contextlib.suppress(Exception):
            if self.last_frame is not None:
                if self.sender is not None:
                    await asyncio.wait([self.sender], timeout=CLOSE_GRACE_SECONDS)
                while self.queue:
                    await self._send(self.queue.popleft())
                await self._send(self.last_frame)
            await self._close(self.close_code or 1000)


class Hub:
    """Every socket of this process, by user and by project, plus their tasks."""

    def __init__(self, *, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self.connections: set[Connection] = set()
        self.by_user: dict[uuid.UUID, list[Connection]] = {}
        self.by_project: dict[uuid.UUID, set[Connection]] = {}
        self.syncing: set[Connection] = set()
        self.tasks: dict[Connection, list[asyncio.Task[Any]]] = {}
        self.closed_by_code: dict[int, int] = {}
        self.shutting_down = False

    # ---------------------------------------------------------------- registry

    def add(self, conn: Connection) -> None:
        """Registers a socket (syncing); the user's oldest socket past the cap gets 4429."""
        conn.hub = self
        self.connections.add(conn)
        sockets = self.by_user.setdefault(conn.user_id, [])
        sockets.append(conn)
        self.syncing.add(conn)
        open_ = [c for c in sockets if c.close_code is None]
        for oldest in open_[: max(0, len(open_) - self.max_per_user)]:
            oldest.close(protocol.TOO_MANY, "too many sockets")

    def go_live(self, conn: Connection, *, position: Position) -> None:
        """Starts the live stream after ``position``: the events kept while syncing come first."""
        pending = conn.pending or []
        conn.position = position
        conn.pending = None
        self.syncing.discard(conn)
        for routed in pending:
            if routed.position <= position:
                conn.follow_access(routed.event)  # replayed (or before the stream): access only
            else:
                conn.apply(routed)
        if conn.close_code is None:
            self.reindex(conn)

    def resync(self, conn: Connection) -> None:
        """Back to syncing (a resume on a live socket): the live stream pauses into ``pending``."""
        self._unindex(conn)
        conn.pending = []
        self.syncing.add(conn)

    def reindex(self, conn: Connection) -> None:
        """Puts a live socket under exactly the projects it streams."""
        self._unindex(conn)
        if not conn.live:
            return
        conn.indexed = conn.streamed()
        for project_id in conn.indexed:
            self.by_project.setdefault(project_id, set()).add(conn)

    def _unindex(self, conn: Connection) -> None:
        for project_id in conn.indexed:
            members = self.by_project.get(project_id)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self.by_project[project_id]
        conn.indexed = set()

    def closing(self, conn: Connection, reason: str) -> None:
        """A socket asked to close: out of routing now, close frame sent by a task."""
        self._unindex(conn)
        self.syncing.discard(conn)
        conn.pending = None
        code = conn.close_code or 1000
        self.closed_by_code[code] = self.closed_by_code.get(code, 0) + 1
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        log.info("ws.close", connection=conn.id, code=code, reason=reason or None)
        self.spawn(conn, conn.send_close())

    async def remove(self, conn: Connection) -> None:
        """Forgets a socket on any way out: every index, its timer, and its tasks."""
        if conn.close_code is None:
            conn.close_code = 1000  # the peer left: nothing more to send
        conn.queue.clear()
        conn.queued_bytes = 0
        conn.wakeup.set()
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        self._unindex(conn)
        self.syncing.discard(conn)
        self.connections.discard(conn)
        sockets = self.by_user.get(conn.user_id)
        if sockets is not None:
            with contextlib.suppress(ValueError):
                sockets.remove(conn)
            if not sockets:
                del self.by_user[conn.user_id]
        tasks = list(self.tasks.get(conn, ()))
        if conn.sender is not None:
            conn.sender.cancel()  # a close in flight is awaited: it is bounded by its timeout
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.pop(conn, None)
        conn.sender = None
        conn.hub = None
        conn.pending = None

    def spawn(self, conn: Connection, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Runs ``work`` as one of ``conn``'s tasks (awaited by ``remove``)."""
        task = asyncio.create_task(work)
        tasks = self.tasks.setdefault(conn, [])
        tasks.append(task)

        def forget(done: asyncio.Task[Any]) -> None:
            owned = self.tasks.get(conn)
            if owned is not None and done in owned:
                owned.remove(done)

        task.add_done_callback(forget)
        return task

    # ---------------------------------------------------------------- fan-out

    def route(self, routed: Routed) -> None:
        """Hands one event to every socket that may receive it (never awaits a client)."""
        for conn in list(self.syncing):
            if conn.pending is not None:
                if len(conn.pending) >= protocol.MAX_REPLAY:
                    conn.close(
                        protocol.RESYNC, "too many pending changes", last=protocol.RESYNC_MESSAGE
                    )
                else:
                    conn.pending.append(routed)
        event = routed.event
        if event.target_user_id is not None:
            candidates: Iterable[Connection] = self.by_user.get(event.target_user_id, ())
        else:
            candidates = self.by_project.get(event.project_id, ())
        for conn in list(candidates):
            if conn.live:
                conn.apply(routed)

    def revoke(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID | None,
        except_session_id: uuid.UUID | None,
    ) -> None:
        """Closes the revoked sessions' sockets with 4401."""
        for conn in list(self.by_user.get(user_id, ())):
            if session_id is not None and conn.session_id != session_id:
                continue
            if except_session_id is not None and conn.session_id == except_session_id:
                continue
            conn.close(protocol.UNAUTHORIZED, "revoked")

    # ---------------------------------------------------------------- housekeeping

    def sweep(self, *, idle_timeout: float) -> None:
        """Closes sockets idle past ``idle_timeout`` (4408) or with an expired token (4401)."""
        now = time.monotonic()
        wall = time.time()
        for conn in list(self.connections):
            if conn.close_code is not None:
                continue
            if now - conn.last_seen >= idle_timeout:
                conn.close(protocol.IDLE, "idle")
            elif conn.expires_at <= wall:
                conn.close(protocol.UNAUTHORIZED, "token expired")

    async def close_all(self, code: int) -> None:
        """Closes every socket with ``code`` and waits (bounded) for the close frames."""
        self.shutting_down = True
        for conn in list(self.connections):
            conn.close(code, "shutdown")
        pending = [task for tasks in self.tasks.values() for task in tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS)

    def stats(self) -> dict[str, int]:
        """Sizes of every structure, for the sweep log and the leak tests."""
        return {
            "connections": len(self.connections),
            "users": len(self.by_user),
            "projects": len(self.by_project),
            "syncing": len(self.syncing),
            "tasks": sum(len(tasks) for tasks in self.tasks.values()),
            "queued": sum(len(conn.queue) for conn in self.connections),
        }

"""One socket's life: authenticate, register, start the stream (with resume), then serve messages.

Authentication order: ``?token=``; else the access cookie when the request carries an ``Origin``
(the server's own, or one of ``TASKAPI_CORS_ORIGINS``; any other closes 4401; a cookie without
``Origin`` is ignored, so a non-browser client sends the ``auth`` message); else the first message
must be ``{"type":"auth","token":…}`` within ``TASKAPI_WS_AUTH_TIMEOUT``. The socket is accepted
first so that every refusal is a close code (4401), never an HTTP status.

Tampered or malformed ``since`` cursors (on connect or in ``resume``) answer an ``error`` message
with problem ``invalid-cursor`` and the socket stays open, streaming from where it was (from the
``ready`` cursor on connect). A cursor older than the retention, from the future (not a position
of this log), or with more than 1,000 changes to replay gets ``{"type":"resync"}`` and close 4410.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.websockets import WebSocket

from taskapi.auth import repository as auth_repository
from taskapi.auth.dependencies import ACCESS_COOKIE
from taskapi.auth.tokens import AccessClaims, TokenIssuer
from taskapi.config import Settings
from taskapi.errors import AppError, CursorExpired, InvalidCursor, Unauthenticated
from taskapi.events.reader import EventCursors, Position, current_position, events_after
from taskapi.projects.access import READABLE_PROJECT_IDS
from taskapi.realtime import protocol
from taskapi.realtime.hub import Connection, Hub
from taskapi.realtime.wire import wire_of

_READABLE = text(READABLE_PROJECT_IDS)


class Stream:
    """The app-wide pieces a socket needs (built once in the lifespan)."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        issuer: TokenIssuer,
        cursors: EventCursors,
        hub: Hub,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.issuer = issuer
        self.cursors = cursors
        self.hub = hub

    async def serve(self, ws: WebSocket) -> None:
        """Runs one socket from accept to its last reference being dropped."""
        await ws.accept()
        if self.hub.shutting_down:
            await ws.close(protocol.GOING_AWAY)
            return
        claims = await self._authenticate(ws)
        if claims is None:
            await ws.close(protocol.UNAUTHORIZED)
            return

        async def close(code: int) -> None:
            await ws.close(code)

        conn = Connection(
            user_id=claims.user_id,
            session_id=claims.session_id,
            expires_at=claims.expires_at,
            send=ws.send_text,
            close=close,
            wire=wire_of(ws),
        )
        self.hub.add(conn)  # first, so no revocation or event falls between the checks below
        try:
            if await self._start(conn, since=ws.query_params.get("since")):
                await self._receive(ws, conn)
            else:
                await _until_disconnect(ws)
        finally:
            await self.hub.remove(conn)

    # ---------------------------------------------------------------- authentication

    async def _authenticate(self, ws: WebSocket) -> AccessClaims | None:
        token = ws.query_params.get("token")
        if token is not None:
            return self._verify(token)
        cookie = ws.cookies.get(ACCESS_COOKIE)
        origin = ws.headers.get("origin")
        if cookie and origin is not None:
            return self._verify(cookie) if self._allowed_origin(ws, origin) else None
        try:
            message = await asyncio.wait_for(ws.receive(), self.settings.ws_auth_timeout)
        except TimeoutError:
            return None
        if message["type"] != "websocket.receive" or message.get("text") is None:
            return None
        try:
            first = protocol.parse(message["text"])
        except AppError:
            return None
        return self._verify(first.token) if isinstance(first, protocol.Auth) else None

    def _verify(self, token: str) -> AccessClaims | None:
        try:
            return self.issuer.verify_access(token)
        except Unauthenticated:
            return None

    def _allowed_origin(self, ws: WebSocket, origin: str) -> bool:
        origin = origin.rstrip("/")
        scheme = "https" if ws.url.scheme == "wss" else "http"
        own = f"{scheme}://{ws.headers.get('host', '')}"
        return origin == own or origin in self.settings.cors_origins

    # ---------------------------------------------------------------- stream

    async def _start(self, conn: Connection, *, since: str | None) -> bool:
        """Checks the session, sends ``ready`` and any replay, then goes live."""
        async with self.engine.connect() as db:
            live = await auth_repository.user_of_live_session(
                db, user_id=conn.user_id, session_id=conn.session_id
            )
            now = await current_position(db)
            access = await _readable_projects(db, conn.user_id)
            await db.rollback()
        if live is None:
            conn.close(protocol.UNAUTHORIZED, "session ended")
            return False
        conn.access = access
        self._schedule_expiry(conn)
        conn.enqueue(protocol.ready(user_id=conn.user_id, cursor=self.cursors.encode(now)))
        start: Position | None = now
        if since is not None:
            start = await self._replay(conn, since, fallback=now)
        if start is None:
            return False
        self.hub.go_live(conn, position=start)
        return conn.close_code is None

    async def _replay(
        self, conn: Connection, cursor: str, *, fallback: Position
    ) -> Position | None:
        """Queues the visible changes after ``cursor``; where the live stream continues.

        ``None`` when the socket was told to resync; ``fallback`` when the cursor is not valid.
        """
        try:
            since = self.cursors.decode(cursor)
        except CursorExpired:
            self._resync(conn, "cursor expired")
            return None
        except InvalidCursor as exc:
            conn.enqueue(protocol.error(exc), bounded=False)
            return fallback
        async with self.engine.connect() as db:
            horizon = await current_position(db)
            if since > horizon:
                await db.rollback()
                self._resync(conn, "cursor from the future")
                return None
            batch = await events_after(
                db,
                since,
                visible_to=conn.user_id,
                project_ids=None if conn.subscription is None else list(conn.subscription),
                limit=protocol.MAX_REPLAY + 1,
            )
            await db.rollback()
        if len(batch.events) > protocol.MAX_REPLAY:
            self._resync(conn, "too many changes to replay")
            return None
        for event in batch.events:
            frame = protocol.change(event.change(self.cursors.encode(event.position)))
            conn.enqueue(frame, bounded=False)
        return batch.position

    def _resync(self, conn: Connection, reason: str) -> None:
        conn.close(protocol.RESYNC, reason, last=protocol.RESYNC_MESSAGE)

    def _schedule_expiry(self, conn: Connection) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
        delay = max(0.0, conn.expires_at - time.time())
        conn.expiry = asyncio.get_running_loop().call_later(
            delay, conn.close, protocol.UNAUTHORIZED, "token expired"
        )

    # ---------------------------------------------------------------- client messages

    async def _receive(self, ws: WebSocket, conn: Connection) -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if conn.close_code is not None:
                continue  # closing: wait for the peer's close
            if not conn.received():
                conn.close(protocol.TOO_MANY, "too many messages")
                continue
            data = message.get("text")
            if data is None:
                conn.close(protocol.UNSUPPORTED_DATA, "binary frame")
                continue
            if len(data) > protocol.MAX_MESSAGE_BYTES // 4 and (
                len(data.encode()) > protocol.MAX_MESSAGE_BYTES
            ):
                conn.close(protocol.MESSAGE_TOO_BIG, "message too big")
                continue
            try:
                await self._handle(conn, protocol.parse(data))
            except AppError as exc:
                conn.enqueue(protocol.error(exc))

    async def _handle(self, conn: Connection, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.Ping):
            conn.enqueue(protocol.PONG)
        elif isinstance(message, protocol.Auth):
            await self._renew(conn, message.token)
        elif isinstance(message, protocol.Resume):
            await self._resume(conn, message.since)
        else:
            conn.subscription = message.project_ids
            self.hub.reindex(conn)
            visible = conn.access if message.project_ids is None else conn.streamed()
            conn.enqueue(protocol.subscribed(visible))

    async def _renew(self, conn: Connection, token: str) -> None:
        claims = self._verify(token)
        if claims is None or claims.user_id != conn.user_id:
            conn.close(protocol.UNAUTHORIZED, "renewal refused")
            return
        async with self.engine.connect() as db:
            live = await auth_repository.user_of_live_session(
                db, user_id=claims.user_id, session_id=claims.session_id
            )
            await db.rollback()
        if live is None:
            conn.close(protocol.UNAUTHORIZED, "session ended")
            return
        conn.session_id = claims.session_id
        conn.expires_at = claims.expires_at
        self._schedule_expiry(conn)

    async def _resume(self, conn: Connection, cursor: str) -> None:
        try:
            self.cursors.decode(cursor)
        except InvalidCursor as exc:
            conn.enqueue(protocol.error(exc))
            return
        except CursorExpired:
            self._resync(conn, "cursor expired")
            return
        self.hub.resync(conn)
        start = await self._replay(conn, cursor, fallback=conn.position)
        if start is not None:
            self.hub.go_live(conn, position=start)


async def _readable_projects(db: AsyncConnection, user_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await db.execute(_READABLE, {"user_id": user_id})
    return {row[0] for row in rows}


async def _until_disconnect(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass

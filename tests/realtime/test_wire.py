"""The direct write path: one frame's bytes for every client, written to the transport while the
socket is OPEN, in order behind anything still queued for the ASGI send, bounded by the
transport's write buffer; and the listener's quick re-reads after an empty wake-up."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from starlette.types import Message
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader

from taskapi.realtime import protocol
from taskapi.realtime.hub import SEND_QUEUE_BYTES, Connection, Hub
from taskapi.realtime.listener import QUICK_RETRY_SECONDS, _next_retry
from taskapi.realtime.wire import Wire, text_frame, wire_of


def parse(data: bytes) -> list[str]:
    """The text messages in ``data`` (server frames, unmasked), read by the websockets library."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    messages = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
            while True:
                next(parser)
        except StopIteration as done:
            frame: Frame = done.value
        assert frame.opcode is Opcode.TEXT
        assert frame.fin
        messages.append(frame.data.decode())
    return messages


class Transport:
    """What the wire needs of an ``asyncio.Transport``: it keeps every byte written."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closing = False
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


class Peer:
    """The protocol side the wire checks: its state and fragmented-message waiter."""

    def __init__(self) -> None:
        self.state = State.CONNECTING
        self._fragmented_message_waiter: asyncio.Future[None] | None = None


class Socket:
    """A connection whose wire is a ``Transport``; the ASGI send writes there too (in order)."""

    def __init__(self, hub: Hub) -> None:
        self.peer = Peer()
        self.transport = Transport()
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed: list[int] = []
        self.conn = Connection(
            user_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            expires_at=time.time() + 600,
            send=self.send,
            close=self.close,
            wire=Wire(self.peer, self.transport),
        )
        hub.add(self.conn)

    async def send(self, frame: str) -> None:
        await self.gate.wait()  # the ASGI send waits for the handshake
        self.transport.write(text_frame(frame.encode()))

    async def close(self, code: int) -> None:
        self.closed.append(code)


async def settle() -> None:
    await asyncio.sleep(0.05)


class TestTextFrame:
    @pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 70_000])
    def test_every_length_encoding_parses(self, size: int) -> None:
        text = "é" * (size // 2) + "x" * (size % 2)
        assert parse(text_frame(text.encode())) == [text]


class TestWireOf:
    def test_a_socket_not_served_by_uvicorns_legacy_protocol_has_no_wire(self) -> None:
        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message) -> None:
            pass

        ws = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
        assert wire_of(ws) is None


class TestDirectWrites:
    async def test_open_socket_is_written_at_once_without_a_task(self) -> None:
        hub = Hub(max_per_user=20)
        socket = Socket(hub)
        socket.peer.state = State.OPEN
        socket.conn.enqueue("one")
        socket.conn.enqueue("two")
        assert parse(bytes(socket.transport.data)) == ["one", "two"]
        assert hub.stats()["tasks"] == 0
        await hub.remove(socket.conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_frames_queued_during_the_handshake_stay_ahead(self) -> None:
        hub = Hub(max_per_user=20)
        socket = Socket(hub)
        socket.gate.clear()
        socket.conn.enqueue("ready")  # not OPEN yet: queued for the ASGI send
        await asyncio.sleep(0)
        socket.peer.state = State.OPEN
        socket.conn.enqueue("first")  # a send is in flight: behind it, not on the wire
        assert socket.transport.data == b""
        socket.gate.set()
        await settle()
        socket.conn.enqueue("second")  # the queue is empty again: straight to the wire
        assert parse(bytes(socket.transport.data)) == ["ready", "first", "second"]
        await hub.remove(socket.conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_closing_transport_falls_back_to_the_asgi_send(self) -> None:
        hub = Hub(max_per_user=20)
        socket = Socket(hub)
        socket.peer.state = State.OPEN
        socket.transport.closing = True
        socket.conn.enqueue("late")
        assert socket.transport.data == b""
        assert len(socket.conn.queue) == 1
        await hub.remove(socket.conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_write_buffer_past_the_bound_closes_4429(self) -> None:
        hub = Hub(max_per_user=20)
        socket = Socket(hub)
        socket.peer.state = State.OPEN
        socket.transport.buffered = SEND_QUEUE_BYTES + 1
        socket.conn.enqueue("too much")
        await settle()
        assert socket.closed == [protocol.TOO_MANY]
        assert hub.closed_by_code == {protocol.TOO_MANY: 1}
        await hub.remove(socket.conn)
        assert hub.stats() == dict.fromkeys(hub.stats(), 0)

    async def test_replayed_frames_are_not_bounded(self) -> None:
        hub = Hub(max_per_user=20)
        socket = Socket(hub)
        socket.peer.state = State.OPEN
        socket.transport.buffered = SEND_QUEUE_BYTES + 1
        socket.conn.enqueue("replayed", bounded=False)
        await settle()
        assert socket.closed == []
        assert parse(bytes(socket.transport.data)) == ["replayed"]
        await hub.remove(socket.conn)


class TestQuickRereads:
    def test_a_wake_up_that_found_nothing_rereads_soon(self) -> None:
        assert _next_retry(None, woken=True, routed=0, limit=1.0) == QUICK_RETRY_SECONDS

    def test_rereads_back_off_up_to_the_poll_interval(self) -> None:
        delays = []
        retry: float | None = QUICK_RETRY_SECONDS
        while retry is not None:
            delays.append(retry)
            retry = _next_retry(retry, woken=False, routed=0, limit=0.1)
        assert delays == [0.005, 0.01, 0.02, 0.04, 0.08]

    def test_an_event_read_ends_the_rereads(self) -> None:
        assert _next_retry(0.02, woken=True, routed=1, limit=1.0) is None

    def test_a_quiet_poll_does_not_start_rereads(self) -> None:
        assert _next_retry(None, woken=False, routed=0, limit=1.0) is None

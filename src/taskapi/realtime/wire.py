"""Writing server frames straight to a socket's transport, bypassing the ASGI send path.

A server→client frame is never masked, so the bytes of one text frame are the same for every
client: the fan-out builds them once per event (``text_frame``) and writes them to each
recipient's ``asyncio.Transport`` in one synchronous loop, instead of one ASGI ``send`` (Starlette's
wrappers, uvicorn, the protocol's frame builder and ``drain``) awaited by one task per socket.

This is done only for a connection served by uvicorn's ``websockets`` (legacy) protocol without
extensions (no permessage-deflate), while its state is OPEN; otherwise ``Wire.write`` answers
``None`` and the caller falls back to the ASGI ``send``. Flow control stays with the caller: it
reads the transport's write-buffer size after each write and closes a socket whose buffer passes
its bound (4429) instead of awaiting ``drain``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket
from websockets.protocol import State

_UVICORN_LEGACY = "uvicorn.protocols.websockets.websockets_impl"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 §5.2) carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65_536:
        header = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        header = b"\x81\x7f" + size.to_bytes(8, "big")
    return header + payload


class Wire:
    """The transport of one uvicorn legacy-protocol WebSocket, written to while it is OPEN."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any, transport: Any) -> None:
        self._protocol = protocol
        self._transport = transport

    def write(self, frame: bytes) -> int | None:
        """Writes ``frame``; the bytes now buffered, or ``None`` when not writable this way."""
        protocol = self._protocol
        transport: asyncio.WriteTransport = self._transport
        if (
            protocol.state is not State.OPEN
            or protocol._fragmented_message_waiter is not None
            or transport.is_closing()
        ):
            return None
        transport.write(frame)
        buffered: int = transport.get_write_buffer_size()
        return buffered


def wire_of(ws: WebSocket) -> Wire | None:
    """The direct writer for ``ws``, or ``None`` when it is not served by the expected protocol.

    The ASGI ``receive`` callable reaches the application unwrapped: it is a bound method of
    uvicorn's protocol object, which owns the transport.
    """
    protocol = getattr(ws._receive, "__self__", None)
    if protocol is None or type(protocol).__module__ != _UVICORN_LEGACY:
        return None
    transport = getattr(protocol, "transport", None)
    if (
        not all(
            callable(getattr(transport, name, None))
            for name in ("write", "is_closing", "get_write_buffer_size")
        )
        or getattr(protocol, "extensions", None)  # permessage-deflate: frames differ per socket
        or getattr(protocol, "is_client", True)
        or not hasattr(protocol, "_fragmented_message_waiter")
        or not isinstance(getattr(protocol, "state", None), State)
    ):
        return None
    return Wire(protocol, transport)

"""The floor of ``bench/ws.py``: a bare ``websockets`` server that sends each message to every
socket in a plain loop (no auth, no database, no compression).

``python -m bench.ws_floor <port>``. Clients connect on any path and get ``{"type":"ready"}``; the
writer connects on ``/control`` and sends ``{"broadcast": marker}``: the server acknowledges at
once (as an HTTP response would return), then awaits ``send`` to each socket in turn.
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvloop
from websockets.asyncio.server import ServerConnection, serve

SOCKETS: set[ServerConnection] = set()
# about the size of a real task.created change
TEMPLATE = {
    "type": "change",
    "event_id": 0,
    "cursor": "WzE2MjQzLDE0LDE3OTU2ODYxNjBd6cn3RurJryFhazMs",
    "event": "task.created",
    "entity": "task",
    "id": "01a2173c-517d-7394-8ce2-2ad5226d6ba6",
    "version": 1,
    "project_id": "01a2173c-517d-7394-8ce2-2ad5226d6ba6",
    "actor_id": "01a2173c-517d-7394-8ce2-2ad5226d6ba6",
    "ts": "2026-11-26T09:42:38.718014Z",
}


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/control":
        async for text in ws:
            marker = json.loads(text)["broadcast"]
            await ws.send('{"ack":true}')
            message = json.dumps({**TEMPLATE, "data": {"title": marker, "description": ""}})
            for client in list(SOCKETS):
                try:
                    await client.send(message)
                except Exception:
                    SOCKETS.discard(client)
        return
    SOCKETS.add(ws)
    try:
        await ws.send('{"type":"ready"}')
        await ws.wait_closed()
    finally:
        SOCKETS.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=16):
        await asyncio.Future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))

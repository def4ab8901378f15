"""The WebSocket load client of ``bench/ws.py``, run in its own process.

``python -m bench.ws_client <config.json> <result.json>``: opens ``users * sockets_per_user``
sockets (a minimal WebSocket client on raw asyncio, so the client spends little of the CPU it
shares with the server; its garbage collector is off while it measures), then makes one change
per second and records, for every socket, when each change arrived. The writer is the REST API
(``POST /api/v1/tasks``) for the project, or a control socket for the floor server; latency is
from the writer's response to receipt, on this process's clock. Between the two phases it prints
``PHASE2`` and waits for a line on stdin (the orchestrator starts the crud mix meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped]

from bench import common

CONNECT_CONCURRENCY = 100


class Sink:
    """Arrival times of every change, by marker.

    Frames received after a socket's ``ready`` are only timestamped and kept; they are parsed
    after the phase (``settle``), so the client's JSON work does not delay the receipt of the
    next sockets' frames (the client shares the 2 cores with the server it measures).
    """

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.received: list[tuple[bytes, float]] = []
        self.ready = 0
        self.closed = 0
        self.errors: list[str] = []

    def settle(self) -> None:
        """Parses the frames kept so far into ``arrivals``."""
        received, self.received = self.received, []
        for payload, at in received:
            message = orjson.loads(payload)
            if message.get("type") == "change":
                marker = message["data"].get("title")
                if marker is not None:
                    self.arrivals.setdefault(marker, []).append(at)


class WsClient(asyncio.Protocol):
    """A bare client: the upgrade, unmasked server frames, pongs to pings; nothing else."""

    def __init__(self, sink: Sink, request: bytes) -> None:
        self.sink = sink
        self.request = request
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer
        if self.upgraded and not buffer:  # the usual case: whole frames, nothing carried over
            if (
                len(data) > 1
                and data[0] == 0x81
                and (
                    (data[1] < 126 and len(data) == 2 + data[1])
                    or (data[1] == 126 and len(data) == 4 + int.from_bytes(data[2:4], "big"))
                )
            ):  # exactly one text frame (a change is a few hundred bytes)
                self._text(data[2:] if data[1] < 126 else data[4:], now)
                return
            offset = self._frames(data, now)
            if offset < len(data):
                buffer += data[offset:]
            return
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buffer[:end]:
                self._fail(f"upgrade refused: {bytes(buffer[:80])!r}")
                return
            self.upgraded = True
            del buffer[: end + 4]
        del buffer[: self._frames(buffer, now)]

    def _frames(self, buffer: bytes | bytearray, now: float) -> int:
        """Handles the whole frames at the start of ``buffer``; how many bytes they took."""
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                start = offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                start = offset + 10
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            offset = start + length
            if opcode == 1:
                self._text(payload, now)
            elif opcode == 9:
                self._send(0xA, payload)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self._fail(f"closed by the server: {code}")
        return offset

    def _text(self, payload: bytes, now: float) -> None:
        if self.ready.done():
            self.sink.received.append((payload, now))  # parsed after the phase
            return
        if orjson.loads(payload).get("type") == "ready":
            self.sink.ready += 1
            self.ready.set_result(None)

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is not None:
            self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _fail(self, reason: str) -> None:
        if len(self.sink.errors) < 20:
            self.sink.errors.append(reason)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.closed += 1
        self._fail(f"connection lost: {exc!r}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _upgrade(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def open_sockets(config: dict[str, Any], sink: Sink) -> list[WsClient]:
    loop = asyncio.get_running_loop()
    port = int(config["port"])
    tokens: list[str] = config["tokens"]
    per_user = int(config["sockets_per_user"])
    paths = [f"{config['ws_path']}?token={token}" for token in tokens for _ in range(per_user)]
    clients: list[WsClient] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(path: str) -> None:
        async with gate:
            request = _upgrade("127.0.0.1", port, path)
            _, client = await loop.create_connection(
                lambda: WsClient(sink, request), "127.0.0.1", port
            )
            clients.append(client)
            await asyncio.wait_for(client.ready, 60)

    await asyncio.gather(*(one(path) for path in paths))
    return clients


def server_rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        total += psutil.Process(pid).memory_info().rss
    return total


class RestWriter:
    def __init__(self, config: dict[str, Any]) -> None:
        self.http = common.HttpConnection(config["base_url"])
        self.headers = {"Authorization": f"Bearer {config['writer_token']}"}
        self.project_id = config["project_id"]

    async def change(self, marker: str) -> None:
        body = {"project_id": self.project_id, "title": marker}
        response = await self.http.request("POST", "/api/v1/tasks", body=body, headers=self.headers)
        if response.status != 201:
            raise common.BenchFailure(f"writer: {response.status} {response.body[:200]!r}")


class FloorWriter:
    """Asks the floor server to broadcast; it answers on the control socket before its loop."""

    def __init__(self, control: WsClient, acks: asyncio.Queue[None]) -> None:
        self.control = control
        self.acks = acks

    async def change(self, marker: str) -> None:
        self.control.send_text(json.dumps({"broadcast": marker}))
        await asyncio.wait_for(self.acks.get(), 30)


async def run_phase(
    writer: RestWriter | FloorWriter, name: str, changes: int, interval: float
) -> dict[str, float]:
    responded: dict[str, float] = {}
    next_at = time.perf_counter()
    for i in range(changes):
        marker = f"{name}-{i}"
        await writer.change(marker)
        responded[marker] = time.perf_counter()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.sleep(3)  # stragglers
    return responded


def latencies(sink: Sink, responded: dict[str, float], expected: int) -> dict[str, Any]:
    sink.settle()
    values: list[float] = []
    first: list[float] = []
    last: list[float] = []
    missing = 0
    for marker, at in responded.items():
        arrivals = sink.arrivals.get(marker, [])
        missing += expected - len(arrivals)
        values.extend(max(0.0, t - at) for t in arrivals)
        if arrivals:
            first.append(round(max(0.0, min(arrivals) - at) * 1000, 1))
            last.append(round(max(0.0, max(arrivals) - at) * 1000, 1))
    return {
        **common.percentiles(values),
        "samples": len(values),
        "missing": missing,
        "changes": len(responded),
        "first_receipt_ms": first,  # per change: the first socket served, then the last
        "last_receipt_ms": last,
    }


async def run(config: dict[str, Any]) -> dict[str, Any]:
    sink = Sink()
    pids: list[int] = config["server_pids"]
    rss_before = server_rss(pids)
    started = time.perf_counter()
    clients = await open_sockets(config, sink)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(2)
    # no collector pauses in the client while it timestamps receipts: a full collection over
    # 5,000 sockets' objects took 80-120 ms here and delayed every frame behind it (ours and
    # the floor's alike); what the phases allocate is bounded (one tuple per frame received)
    gc.collect()
    gc.freeze()
    gc.disable()
    rss_after = server_rss(pids)
    count = len(clients)
    result: dict[str, Any] = {
        "connections": count,
        "connect_seconds": round(connect_seconds, 1),
        "server_rss_before_mib": round(rss_before / 2**20, 1),
        "server_rss_after_mib": round(rss_after / 2**20, 1),
        "memory_per_connection_kib": round((rss_after - rss_before) / count / 1024, 1),
    }
    writer: RestWriter | FloorWriter
    if config["mode"] == "floor":
        acks: asyncio.Queue[None] = asyncio.Queue()
        control_sink = Sink()
        loop = asyncio.get_running_loop()
        request = _upgrade("127.0.0.1", int(config["port"]), "/control")
        _, control = await loop.create_connection(
            lambda: _ControlClient(control_sink, request, acks), "127.0.0.1", int(config["port"])
        )
        writer = FloorWriter(control, acks)
    else:
        writer = RestWriter(config)
    changes = int(config["changes"])
    responded = await run_phase(writer, "steady", changes, 1.0)
    result["steady"] = latencies(sink, responded, count)
    if config.get("mix"):
        print("PHASE2", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        responded = await run_phase(writer, "mix", changes, 1.0)
        result["mix"] = latencies(sink, responded, count)
    gc.enable()
    result["errors"] = sink.errors
    result["closed"] = sink.closed
    for client in clients:
        client.close()
    return result


class _ControlClient(WsClient):
    def __init__(self, sink: Sink, request: bytes, acks: asyncio.Queue[None]) -> None:
        super().__init__(sink, request)
        self.acks = acks

    def _text(self, payload: bytes, now: float) -> None:
        self.acks.put_nowait(None)


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = int(config["users"]) * int(config["sockets_per_user"]) + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, wanted), hard), hard))
    result = common.run_async(run(config))
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()

"""Starts and stops the realtime machinery with the app: the hub, the listener, the sweeper.

Graceful shutdown closes every socket with 1001 *before* the server's own shutdown, which would
close them with 1012: the SIGTERM/SIGINT handler installed by the server is wrapped so the hub
closes its sockets first and then hands over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import structlog
from fastapi import FastAPI

from taskapi.config import Settings
from taskapi.realtime import protocol
from taskapi.realtime.hub import Hub
from taskapi.realtime.listener import Listener
from taskapi.realtime.stream import Stream

log = structlog.get_logger(__name__)

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@asynccontextmanager
async def realtime_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    hub = Hub(max_per_user=settings.ws_max_per_user)
    listener = Listener(
        engine=app.state.engine,
        database_url=app.state.database_url,
        hub=hub,
        cursors=app.state.event_cursors,
    )
    app.state.realtime_hub = hub
    app.state.realtime_listener = listener
    app.state.realtime_stream = Stream(
        settings=settings,
        engine=app.state.engine,
        issuer=app.state.token_issuer,
        cursors=app.state.event_cursors,
        hub=hub,
    )
    tasks = [
        asyncio.create_task(listener.run(), name="ws-listener"),
        asyncio.create_task(_sweep(hub, settings), name="ws-sweeper"),
    ]
    restore = _close_sockets_on_shutdown_signal(hub)
    try:
        yield
    finally:
        restore()
        await hub.close_all(protocol.GOING_AWAY)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _sweep(hub: Hub, settings: Settings) -> None:
    """Closes idle and expired sockets every sweep interval and logs the hub's sizes."""
    last: dict[str, int] = {}
    while True:
        await asyncio.sleep(settings.ws_sweep_interval)
        hub.sweep(idle_timeout=settings.ws_idle_timeout)
        stats = hub.stats()
        if stats != last:
            log.info("ws.hub", **stats)
            last = stats


def _close_sockets_on_shutdown_signal(hub: Hub) -> Callable[[], None]:
    """Wraps the server's signal handlers: sockets get 1001, then the server shuts down."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}
    for sig in SHUTDOWN_SIGNALS:
        handler = signal.getsignal(sig)
        owner = getattr(handler, "__self__", None)
        if not callable(handler) or not type(owner).__module__.startswith("uvicorn"):
            continue  # not served by uvicorn (e.g. tests over ASGI): nothing to close first
        previous[sig] = handler

        def on_signal(signum: int, frame: FrameType | None, handler: Any = handler) -> None:
            async def close_then_hand_over() -> None:
                with contextlib.suppress(Exception):
                    await hub.close_all(protocol.GOING_AWAY)
                handler(signum, frame)

            loop.call_soon_threadsafe(lambda: loop.create_task(close_then_hand_over()))

        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(sig, handler)

    return restore

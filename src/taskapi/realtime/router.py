"""``/api/v1/ws``: the WebSocket stream (API.md §8)."""

from fastapi import APIRouter, WebSocket

from taskapi.realtime.stream import Stream

router = APIRouter(tags=["realtime"])


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """Live changes of the caller's projects (API.md §8)."""
    service: Stream = websocket.app.state.realtime_stream
    await service.serve(websocket)

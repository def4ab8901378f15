"""``/api/v1/ws``: the WebSocket stream (API.md §8)."""

from fastapi import APIRouter

router = APIRouter(tags=["realtime"])

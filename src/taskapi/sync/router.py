"""`/api/v1` routes of the sync domain."""

from fastapi import APIRouter

router = APIRouter(tags=["sync"])

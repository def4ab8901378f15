"""`/api/v1` routes of the tasks domain."""

from fastapi import APIRouter

router = APIRouter(tags=["tasks"])

"""`/api/v1` routes of the search domain."""

from fastapi import APIRouter

router = APIRouter(tags=["search"])

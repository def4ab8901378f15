"""`/api/v1` routes of the projects domain."""

from fastapi import APIRouter

router = APIRouter(tags=["projects"])

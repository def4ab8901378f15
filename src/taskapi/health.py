"""``/health`` (the process serves), ``/health/ready`` (the database answers, schema current)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from taskapi import __version__
from taskapi.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, Any]:
    """Liveness: no database call."""
    return {"status": "ok", "version": __version__}


@router.get("/health/ready", responses={503: {"description": "Database down or schema behind"}})
async def ready(request: Request) -> dict[str, Any]:
    """Readiness: the database answers and its schema is at the latest migration."""
    engine: AsyncEngine = request.app.state.engine
    head: str = request.app.state.schema_head
    try:
        async with engine.connect() as connection:
            try:
                current = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
            except ProgrammingError:
                current = None  # never migrated: no alembic_version table
    except Exception as exc:
        raise Unavailable("The database is unavailable") from exc
    if current != head:
        raise Unavailable(f"The schema is at {current}, expected {head}; run taskapi migrate")
    return {"status": "ready", "version": __version__, "schema": current}

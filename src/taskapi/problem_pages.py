"""``/problems/<kind>``: what each problem type means (public, like ``/docs``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from taskapi.errors import NotFound, all_problem_types

router = APIRouter(prefix="/problems", tags=["problems"])


@router.get("/{kind}")
async def problem_type(kind: str) -> dict[str, Any]:
    """Describe one problem type."""
    error = all_problem_types().get(kind)
    if error is None:
        raise NotFound(f"No problem type {kind!r}")
    return {
        "type": f"/problems/{error.type}",
        "title": error.title,
        "status": error.status,
        "description": error.description,
    }

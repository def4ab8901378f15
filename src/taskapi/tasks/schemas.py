"""Task payloads: ``Task`` (read), ``TaskCreate``, ``TaskUpdate`` (a JSON merge patch)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
)

from taskapi.kit.schemas import InputModel, OutputModel
from taskapi.kit.time import UtcDatetime, format_utc

MAX_TAGS = 20
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_VERSION = 2_147_483_647

Status = Literal["todo", "in_progress", "done"]
SortKey = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_at",
    "-due_at",
    "priority",
    "-priority",
]


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _distinct_tags(tags: list[str]) -> list[str]:
    seen: set[str] = set()
    for tag in tags:
        key = tag.lower()
        if key in seen:
            raise ValueError(f"tags must be distinct (case-insensitively): {tag!r} repeats")
        seen.add(key)
    return tags


def _iso_date_text(value: object) -> object:
    if isinstance(value, str) and not _DATE.match(value):
        raise ValueError("must be a date YYYY-MM-DD")
    if isinstance(value, int | float | datetime):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


def _instant_text(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 instant with an offset")
    return value


def _utc_instant(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("instant out of range") from None


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(no_nul),
]
Description = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(no_nul)]
Priority = Annotated[int, Field(strict=True, ge=0, le=4)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_nul),
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_distinct_tags)]
DueInstant = Annotated[
    AwareDatetime,
    BeforeValidator(_instant_text),
    AfterValidator(_utc_instant),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
DueDate = Annotated[date, BeforeValidator(_iso_date_text)]
Version = Annotated[int, Field(strict=True, ge=1, le=MAX_VERSION)]


class Task(OutputModel):
    id: uuid.UUID
    project_id: uuid.UUID
    parent_id: uuid.UUID | None
    title: str
    description: str
    status: Status
    priority: int
    due_at: UtcDatetime | None
    due_date: date | None
    tags: list[str]
    assignee_id: uuid.UUID | None
    completed_at: UtcDatetime | None
    created_by: uuid.UUID
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


class TaskCreate(InputModel):
    """A new task; without ``project_id`` it goes to the caller's Inbox."""

    project_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    title: Title
    description: Description = ""
    status: Status = "todo"
    priority: Priority = 0
    due_at: DueInstant | None = None
    due_date: DueDate | None = None
    tags: Tags = Field(default_factory=list)
    assignee_id: uuid.UUID | None = None


class TaskUpdate(InputModel):
    """A JSON merge patch: only the fields sent change; ``null`` clears a nullable field."""

    project_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_at: DueInstant | None = None
    due_date: DueDate | None = None
    tags: Tags | None = None
    assignee_id: uuid.UUID | None = None


class TaskPatch(TaskUpdate):
    """The PATCH body: the merge patch, and the version the caller read (or ``If-Match``)."""

    version: Version | None = None


class HistoryEntry(OutputModel):
    event_id: int
    version: int
    type: str
    actor_id: uuid.UUID | None
    changes: dict[str, Any]
    ts: UtcDatetime


class TaskPage(OutputModel):
    items: list[Task]
    next_cursor: str | None = None


class HistoryPage(OutputModel):
    items: list[HistoryEntry]
    next_cursor: str | None = None


class TrashItem(OutputModel):
    kind: Literal["task", "project"]
    task: Task | None = None
    project: dict[str, Any] | None = None
    deleted_at: UtcDatetime
    deleted_by: uuid.UUID | None


class TrashPage(OutputModel):
    items: list[TrashItem]
    next_cursor: str | None = None

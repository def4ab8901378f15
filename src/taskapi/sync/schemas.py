"""Sync payloads (API.md §6, §7): the paged snapshot and the changes after a cursor."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from taskapi.kit.schemas import OutputModel
from taskapi.kit.time import UtcDatetime
from taskapi.projects.schemas import MemberUser, Project
from taskapi.tasks.schemas import Task
from taskapi.users.schemas import PublicUser


class Membership(OutputModel):
    project_id: uuid.UUID
    user: MemberUser
    role: Literal["owner", "editor", "viewer"]
    added_at: UtcDatetime
    version: int


class SyncSnapshot(OutputModel):
    """One page of the snapshot: projects, memberships and users come on the first page."""

    projects: list[Project]
    tasks: list[Task]
    memberships: list[Membership]
    users: list[PublicUser]
    cursor: str
    page_cursor: str | None


class Change(OutputModel):
    event_id: int
    cursor: str
    event: str
    entity: Literal["task", "project", "member"]
    id: uuid.UUID
    version: int
    project_id: uuid.UUID
    actor_id: uuid.UUID | None
    data: dict[str, Any]
    ts: str


class SyncChanges(OutputModel):
    changes: list[Change]
    cursor: str
    has_more: bool

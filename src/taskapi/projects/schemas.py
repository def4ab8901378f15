"""Request and response bodies of the projects domain (API.md §3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from taskapi.kit.schemas import Email, InputModel, OutputModel
from taskapi.kit.time import UtcDatetime

NAME_MAX = 200
DESCRIPTION_MAX = 5_000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


ProjectName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_no_nul),
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX), AfterValidator(_no_nul)]
Version = Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)]


class Project(OutputModel):
    id: uuid.UUID
    name: str
    description: str
    is_inbox: bool
    role: Literal["owner", "editor", "viewer"]
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


class ProjectCreate(InputModel):
    name: ProjectName
    description: Description | None = None


class ProjectUpdate(InputModel):
    """A merge patch: absent fields stay; ``description: null`` clears it."""

    version: Version | None = None
    name: ProjectName | None = None
    description: Description | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("name cannot be null")
        return value


class MemberUser(OutputModel):
    id: uuid.UUID
    email: str
    display_name: str


class Member(OutputModel):
    user: MemberUser
    role: Literal["owner", "editor", "viewer"]
    added_at: UtcDatetime


class Members(OutputModel):
    items: list[Member]


class MemberCreate(InputModel):
    email: Email
    role: Literal["editor", "viewer"]


class MemberUpdate(InputModel):
    role: Literal["owner", "editor", "viewer"]

"""Optimistic locking rules shared by tasks and projects (API.md §4 PATCH).

The caller states the version it read as ``version`` in the body or as ``If-Match: "<version>"``.
Stale body version: 409 ``version-conflict``; stale ``If-Match``: 412 ``precondition-failed``; both
carry ``current`` and an ``ETag``. Neither: 428. Both given and different: 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from taskapi.errors import (
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
    VersionConflict,
)

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version named by ``If-Match``; ``*`` or anything but one ETag is a 422."""
    if header is None:
        return None
    match = _ETAG.match(header)
    if match is None:
        raise ValidationFailed.at(
            ["header", "If-Match"], 'If-Match must be one ETag such as "3"', "if_match"
        )
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class ExpectedVersion:
    value: int
    from_header: bool


def expected_version(
    *, body_version: int | None, if_match: str | None, required: bool = True
) -> ExpectedVersion | None:
    """The version the caller read, from the body or ``If-Match``; 428 if required and absent."""
    header_version = parse_if_match(if_match)
    if body_version is not None and header_version is not None and body_version != header_version:
        raise ValidationFailed.at(
            ["body", "version"], "version and If-Match disagree", "version_mismatch"
        )
    if body_version is not None:
        return ExpectedVersion(body_version, from_header=False)
    if header_version is not None:
        return ExpectedVersion(header_version, from_header=True)
    if required:
        raise PreconditionRequired(
            'State the version you read: "version" in the body or an If-Match header'
        )
    return None


def check_version(
    expected: ExpectedVersion | None,
    *,
    current_version: int,
    current: dict[str, Any],
    entity: str = "Task",
) -> None:
    """Raises 409 or 412 (with ``current`` and its ETag) when ``expected`` is stale."""
    if expected is None or expected.value == current_version:
        return
    detail = (
        f"{entity} was modified: you sent version {expected.value},"
        f" the current version is {current_version}"
    )
    headers = {"ETag": etag(current_version)}
    error_class = PreconditionFailed if expected.from_header else VersionConflict
    raise error_class(detail, extra={"current": current}, headers=headers)

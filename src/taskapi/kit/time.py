"""Timestamps: inputs with any offset, outputs in UTC with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(format_utc, return_type=str, when_used="json")]
"""A datetime that serialises to RFC 3339 UTC with ``Z`` (for responses)."""

AwareInstant = Annotated[
    AwareDatetime,
    AfterValidator(lambda value: value.astimezone(UTC)),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""An input instant: an offset is required, and it is normalised to UTC."""

"""The socket's vocabulary (API.md §8): close codes, limits, and the messages both ways."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from taskapi.errors import AppError, MalformedRequest, ValidationFailed

GOING_AWAY = 1001  # graceful shutdown
UNSUPPORTED_DATA = 1003  # a binary frame
MESSAGE_TOO_BIG = 1009  # a message over MAX_MESSAGE_BYTES
UNAUTHORIZED = 4401  # no, bad, expired or revoked credentials
IDLE = 4408  # nothing received for ws_idle_timeout
RESYNC = 4410  # the cursor cannot be resumed: use /sync
TOO_MANY = 4429  # too many sockets, messages, or a send queue past its bound

MAX_MESSAGE_BYTES = 64 * 1024
MAX_MESSAGES_PER_SECOND = 20
MAX_REPLAY = 1000  # more pending changes than this on resume: resync instead

CLIENT_TYPES = ("auth", "ping", "resume", "subscribe")


@dataclass(frozen=True, slots=True)
class Auth:
    token: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    since: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    project_ids: frozenset[uuid.UUID] | None


ClientMessage = Auth | Ping | Resume | Subscribe


def parse(text: str) -> ClientMessage:
    """The client message in ``text``; ``MalformedRequest`` or ``ValidationFailed`` otherwise."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MalformedRequest("The message is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed.at(["message"], "A message is a JSON object with a 'type'")
    kind = body.get("type")
    if kind not in CLIENT_TYPES:
        raise ValidationFailed.at(
            ["message", "type"], f"Unknown message type; expected one of {', '.join(CLIENT_TYPES)}"
        )
    if kind == "ping":
        return Ping()
    if kind == "auth":
        return Auth(_string(body, "token"))
    if kind == "resume":
        return Resume(_string(body, "since"))
    ids = body.get("project_ids", ...)
    if ids is ...:
        raise ValidationFailed.at(["message", "project_ids"], "Field required", "missing")
    if ids is None:
        return Subscribe(None)
    if not isinstance(ids, list) or len(ids) > 10_000:
        raise ValidationFailed.at(["message", "project_ids"], "A list of project ids, or null")
    parsed: set[uuid.UUID] = set()
    for index, value in enumerate(ids):
        try:
            parsed.add(uuid.UUID(value))
        except (TypeError, ValueError, AttributeError):
            raise ValidationFailed.at(
                ["message", "project_ids", index], "Not a UUID", "uuid_parsing"
            ) from None
    return Subscribe(frozenset(parsed))


def _string(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ValidationFailed.at(["message", field], "A non-empty string is required")
    return value


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def ready(*, user_id: uuid.UUID, cursor: str) -> str:
    return encode({"type": "ready", "user_id": str(user_id), "cursor": cursor})


def change(fields: dict[str, Any]) -> str:
    """A change frame: serialised once per event and shared by every recipient."""
    return encode({"type": "change", **fields})


def error(problem: AppError) -> str:
    return encode({"type": "error", "problem": problem.problem(instance="/api/v1/ws")})


PONG = encode({"type": "pong"})
RESYNC_MESSAGE = encode({"type": "resync"})


def subscribed(project_ids: set[uuid.UUID]) -> str:
    return encode({"type": "subscribed", "project_ids": sorted(str(p) for p in project_ids)})

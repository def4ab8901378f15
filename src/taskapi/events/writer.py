"""Writing events: one row per change, in the change's own transaction, then NOTIFY."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

NOTIFY_CHANNEL = "taskapi_events"  # sent by the trigger of migration 0004
REVOCATION_CHANNEL = "taskapi_revocations"

_INSERT = text("""
    INSERT INTO events (project_id, entity, entity_id, version, type, actor_id, data, changes,
                        target_user_id, hidden_from_project_id)
    VALUES (:project_id, :entity, :entity_id, :version, :type, :actor_id,
            CAST(:data AS jsonb), CAST(:changes AS jsonb), :target_user_id, :hidden_from_project_id)
""")


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def record(
    conn: AsyncConnection,
    *,
    type: str,
    entity: str,
    entity_id: uuid.UUID,
    project_id: uuid.UUID,
    version: int,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
    changes: dict[str, Any] | None = None,
    target_user_id: uuid.UUID | None = None,
    hidden_from_project_id: uuid.UUID | None = None,
) -> None:
    """Appends one change to the log; readers see it once the transaction commits.

    A statement trigger on ``events`` sends ``NOTIFY taskapi_events``, delivered on commit.

    ``data`` is the entity after the change (a tombstone after a delete), already JSON-shaped
    (``taskapi.kit.time.format_utc`` for instants). ``changes`` is ``{field: {before, after}}``.
    """
    await conn.execute(
        _INSERT,
        {
            "project_id": project_id,
            "entity": entity,
            "entity_id": entity_id,
            "version": version,
            "type": type,
            "actor_id": actor_id,
            "data": _json(data),
            "changes": None if changes is None else _json(changes),
            "target_user_id": target_user_id,
            "hidden_from_project_id": hidden_from_project_id,
        },
    )


async def notify_revocation(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None = None,
    except_session_id: uuid.UUID | None = None,
) -> None:
    """Tells every process, on commit, to close the revoked sockets with 4401.

    ``session_id`` names one revoked session; without it every session of the user is revoked
    but ``except_session_id``.
    """
    payload = {
        "user_id": str(user_id),
        "session_id": None if session_id is None else str(session_id),
        "except_session_id": None if except_session_id is None else str(except_session_id),
    }
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": REVOCATION_CHANNEL, "payload": _json(payload)},
    )

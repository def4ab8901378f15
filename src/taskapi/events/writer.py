"""Writing events: one row per change, in the change's own transaction, then NOTIFY."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
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


_COLUMNS = {
    "project_id": "uuid",
    "entity": "text",
    "entity_id": "uuid",
    "version": "integer",
    "type": "text",
    "actor_id": "uuid",
    "data": "text",
    "changes": "text",
    "target_user_id": "uuid",
    "hidden_from_project_id": "uuid",
}
_INSERT_MANY = text(
    f"INSERT INTO events ({', '.join(_COLUMNS)})"
    " SELECT r.project_id, r.entity, r.entity_id, r.version, r.type, r.actor_id,"
    " CAST(r.data AS jsonb), CAST(r.changes AS jsonb), r.target_user_id, r.hidden_from_project_id"
    " FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS.items())
    + f") WITH ORDINALITY AS r({', '.join(_COLUMNS)}, n) ORDER BY r.n"
)

# set by ``deferred``: the rows recorded meanwhile, written together when the block ends
_deferred: ContextVar[list[dict[str, Any]] | None] = ContextVar("deferred_events", default=None)


@asynccontextmanager
async def deferred(conn: AsyncConnection) -> AsyncIterator[list[dict[str, Any]]]:
    """Holds the events recorded inside the block and writes them in one batch when it ends.

    For many changes in one transaction (bulk): the rows keep their order, so their ids do too.
    Yields the pending rows (truncate them to drop the events of a change rolled back to a
    savepoint). If the block raises, nothing is written (the caller rolls the transaction back).
    """
    rows: list[dict[str, Any]] = []
    token = _deferred.set(rows)
    try:
        yield rows
    finally:
        _deferred.reset(token)
    if rows:
        # one statement (one trigger run) for the whole batch, in the order recorded
        await conn.execute(
            _INSERT_MANY, {column: [row[column] for row in rows] for column in _COLUMNS}
        )


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
    row = {
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
    }
    batch = _deferred.get()
    if batch is not None:
        batch.append(row)
    else:
        await conn.execute(_INSERT, row)


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

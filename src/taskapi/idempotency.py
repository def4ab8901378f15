"""``Idempotency-Key`` (API.md §1): a retried create replays the first answer instead of repeating.

The key is claimed in its own short transaction, so a concurrent duplicate sees it in flight; the
stored answer is written in the request's transaction, so it commits together with the effect.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.responses import Response

from taskapi.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ValidationFailed,
)
from taskapi.problems import request_id_of

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_HOURS = 24
ABANDONED_AFTER_SECONDS = 60  # an in-flight claim this old belongs to a request that died
_REPLAYED_HEADERS = ("location", "etag")


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"

    def response(self, *, replayed: bool = False) -> Response:
        headers = dict(self.headers)
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        return Response(
            orjson.dumps(self.body),
            status_code=self.status,
            headers=headers,
            media_type=self.media_type,
        )


def _storable(status: int) -> bool:
    return status not in (409, 429) and status < 500


async def idempotent(
    request: Request,
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    body: Any,
    produce: Callable[[], Awaitable[JsonAnswer]],
) -> Response:
    """Runs ``produce`` once per (user, method + path, Idempotency-Key); replays it afterwards."""
    key = request.headers.get(HEADER)
    if key is None:
        return (await produce()).response()
    if not 1 <= len(key) <= 255:
        raise ValidationFailed.at(["header", "Idempotency-Key"], "must be 1 to 255 characters")
    engine: AsyncEngine = request.app.state.engine
    scope = f"{request.method} {request.url.path}"
    request_hash = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
    ids = {"user_id": user_id, "scope": scope, "key": key}

    stored = await _claim(engine, ids, request_hash)
    if stored is not None:
        return stored.response(replayed=True)
    try:
        answer = await produce()
    except AppError as error:
        if _storable(error.status):
            problem = error.problem(
                instance=request.url.path, request_id=request_id_of(request.scope)
            )
            answer = JsonAnswer(error.status, problem, dict(error.headers), PROBLEM_CONTENT_TYPE)
            await _store(engine, ids, answer)
        else:
            await _release(engine, ids)
        raise
    except BaseException:
        await _release(engine, ids)
        raise
    if _storable(answer.status):
        await _store(conn, ids, answer)
    else:
        await _release(engine, ids)
    return answer.response()


async def _claim(
    engine: AsyncEngine, ids: dict[str, Any], request_hash: bytes
) -> JsonAnswer | None:
    """Claims the key, or returns the stored answer to replay; raises if in flight or reused."""
    async with engine.begin() as conn:
        inserted = (
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (user_id, scope, key, request_hash)"
                    " VALUES (:user_id, :scope, :key, :hash) ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {**ids, "hash": request_hash},
            )
        ).first()
        if inserted is not None:
            return None
        row = (
            await conn.execute(
                text(
                    "SELECT request_hash, status, body, headers,"
                    f" created_at < now() - interval '{KEEP_HOURS} hours' AS expired,"
                    f" created_at < now() - interval '{ABANDONED_AFTER_SECONDS} seconds'"
                    " AS abandoned"
                    " FROM idempotency_keys"
                    " WHERE user_id = :user_id AND scope = :scope AND key = :key FOR UPDATE"
                ),
                ids,
            )
        ).one()
        if row.expired or (row.status is None and row.abandoned):
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET request_hash = :hash, status = NULL, body = NULL,"
                    " headers = NULL, created_at = now()"
                    " WHERE user_id = :user_id AND scope = :scope AND key = :key"
                ),
                {**ids, "hash": request_hash},
            )
            return None
        if bytes(row.request_hash) != request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different body")
        if row.status is None:
            raise IdempotencyKeyInFlight(
                "A request with this Idempotency-Key is still running", headers={"Retry-After": "1"}
            )
        headers = dict(row.headers or {})
        media_type = headers.pop("content-type", "application/json")
        return JsonAnswer(row.status, row.body, headers, media_type)


async def _store(
    target: AsyncConnection | AsyncEngine, ids: dict[str, Any], answer: JsonAnswer
) -> None:
    headers = {
        name: value for name, value in answer.headers.items() if name.lower() in _REPLAYED_HEADERS
    }
    headers["content-type"] = answer.media_type
    statement = text(
        "UPDATE idempotency_keys SET status = :status, body = CAST(:body AS jsonb),"
        " headers = CAST(:headers AS jsonb)"
        " WHERE user_id = :user_id AND scope = :scope AND key = :key"
    )
    params = {
        **ids,
        "status": answer.status,
        "body": orjson.dumps(answer.body).decode(),
        "headers": orjson.dumps(headers).decode(),
    }
    if isinstance(target, AsyncEngine):
        async with target.begin() as conn:
            await conn.execute(statement, params)
    else:
        await target.execute(statement, params)


async def _release(engine: AsyncEngine, ids: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM idempotency_keys"
                " WHERE user_id = :user_id AND scope = :scope AND key = :key AND status IS NULL"
            ),
            ids,
        )

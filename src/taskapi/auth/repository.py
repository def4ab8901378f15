"""SQL for users, sessions (refresh-token families) and refresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.db import fetch_row
from taskapi.errors import EmailTaken


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime
    password_hash: str = ""


def _user(row: Any) -> UserRow:
    return UserRow(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        created_at=row.created_at,
        password_hash=getattr(row, "password_hash", ""),
    )


async def insert_user(
    conn: AsyncConnection, *, user_id: uuid.UUID, email: str, display_name: str, password_hash: str
) -> UserRow:
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO users (id, email, display_name, password_hash)"
                        " VALUES (:id, :email, :display_name, :password_hash)"
                        " RETURNING id, email, display_name, created_at"
                    ),
                    {
                        "id": user_id,
                        "email": email,
                        "display_name": display_name,
                        "password_hash": password_hash,
                    },
                )
            ).one()
    except IntegrityError:
        raise EmailTaken("An account with this email already exists") from None
    return _user(row)


async def active_user_by_email(conn: AsyncConnection, email: str) -> UserRow | None:
    row = (
        await conn.execute(
            text(
                "SELECT id, email, display_name, created_at, password_hash FROM users"
                " WHERE lower(email) = lower(:email) AND deleted_at IS NULL"
            ),
            {"email": email},
        )
    ).one_or_none()
    return None if row is None else _user(row)


async def active_user(conn: AsyncConnection, user_id: uuid.UUID) -> UserRow | None:
    row = (
        await conn.execute(
            text(
                "SELECT id, email, display_name, created_at, password_hash FROM users"
                " WHERE id = :id AND deleted_at IS NULL"
            ),
            {"id": user_id},
        )
    ).one_or_none()
    return None if row is None else _user(row)


_SESSION_USER = text(
    "SELECT u.id, u.email, u.display_name, u.created_at FROM auth_sessions s"
    " JOIN users u ON u.id = s.user_id"
    " WHERE s.id = :session_id AND s.user_id = :user_id"
    " AND s.revoked_at IS NULL AND u.deleted_at IS NULL"
)


async def user_of_live_session(
    conn: AsyncConnection, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> UserRow | None:
    """The user, if active and the token family is not revoked: the per-request check."""
    row = await fetch_row(conn, _SESSION_USER, user_id=user_id, session_id=session_id)
    return None if row is None else _user(row)


async def update_password_hash(
    conn: AsyncConnection, user_id: uuid.UUID, password_hash: str
) -> None:
    await conn.execute(
        text("UPDATE users SET password_hash = :hash, updated_at = now() WHERE id = :id"),
        {"id": user_id, "hash": password_hash},
    )


async def update_display_name(
    conn: AsyncConnection, user_id: uuid.UUID, display_name: str
) -> UserRow:
    row = (
        await conn.execute(
            text(
                "UPDATE users SET display_name = :name, updated_at = now() WHERE id = :id"
                " RETURNING id, email, display_name, created_at"
            ),
            {"id": user_id, "name": display_name},
        )
    ).one()
    return _user(row)


async def soft_delete_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    await conn.execute(
        text("UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = :id"),
        {"id": user_id},
    )


async def insert_session(
    conn: AsyncConnection, *, session_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    await conn.execute(
        text("INSERT INTO auth_sessions (id, user_id) VALUES (:id, :user_id)"),
        {"id": session_id, "user_id": user_id},
    )


async def insert_refresh_token(
    conn: AsyncConnection,
    *,
    token_hash: bytes,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    expires_at: datetime,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO refresh_tokens (token_hash, session_id, user_id, expires_at)"
            " VALUES (:token_hash, :session_id, :user_id, :expires_at)"
        ),
        {
            "token_hash": token_hash,
            "session_id": session_id,
            "user_id": user_id,
            "expires_at": expires_at,
        },
    )


@dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    session_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    spent: bool
    session_revoked: bool


async def spend_refresh_token(conn: AsyncConnection, token_hash: bytes) -> RefreshTokenRow | None:
    """Marks the token spent and returns it, or returns its row as it was if already spent.

    The conditional UPDATE makes two concurrent uses of one token yield one winner.
    """
    spent = (
        await conn.execute(
            text(
                "UPDATE refresh_tokens t SET rotated_at = now() FROM auth_sessions s"
                " WHERE t.token_hash = :hash AND t.rotated_at IS NULL AND s.id = t.session_id"
                " RETURNING t.session_id, t.user_id, t.expires_at,"
                " s.revoked_at IS NOT NULL AS revoked"
            ),
            {"hash": token_hash},
        )
    ).one_or_none()
    if spent is not None:
        return RefreshTokenRow(
            spent.session_id, spent.user_id, spent.expires_at, False, spent.revoked
        )
    row = (
        await conn.execute(
            text(
                "SELECT t.session_id, t.user_id, t.expires_at, s.revoked_at IS NOT NULL AS revoked"
                " FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id"
                " WHERE t.token_hash = :hash"
            ),
            {"hash": token_hash},
        )
    ).one_or_none()
    if row is None:
        return None
    return RefreshTokenRow(row.session_id, row.user_id, row.expires_at, True, row.revoked)


async def session_of_refresh_token(
    conn: AsyncConnection, token_hash: bytes
) -> RefreshTokenRow | None:
    row = (
        await conn.execute(
            text(
                "SELECT t.session_id, t.user_id, t.expires_at, t.rotated_at IS NOT NULL AS spent,"
                " s.revoked_at IS NOT NULL AS revoked"
                " FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id"
                " WHERE t.token_hash = :hash"
            ),
            {"hash": token_hash},
        )
    ).one_or_none()
    if row is None:
        return None
    return RefreshTokenRow(row.session_id, row.user_id, row.expires_at, row.spent, row.revoked)


async def revoke_session(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(
        text("UPDATE auth_sessions SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"),
        {"id": session_id},
    )


async def revoke_user_sessions(
    conn: AsyncConnection, user_id: uuid.UUID, *, except_session: uuid.UUID | None = None
) -> None:
    await conn.execute(
        text(
            "UPDATE auth_sessions SET revoked_at = now()"
            " WHERE user_id = :user_id AND revoked_at IS NULL"
            " AND (CAST(:keep AS uuid) IS NULL OR id <> :keep)"
        ),
        {"user_id": user_id, "keep": except_session},
    )


async def spend_session_tokens(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    """Marks every outstanding refresh token of a session spent (before issuing a fresh one)."""
    await conn.execute(
        text(
            "UPDATE refresh_tokens SET rotated_at = now()"
            " WHERE session_id = :id AND rotated_at IS NULL"
        ),
        {"id": session_id},
    )

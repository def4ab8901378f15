"""Account rules: register, log in, rotate refresh tokens, log out, change password, deactivate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.auth import passwords, repository
from taskapi.auth.repository import UserRow
from taskapi.auth.tokens import TokenIssuer, hash_refresh_token, new_refresh_token
from taskapi.errors import Conflict, Unauthenticated, ValidationFailed
from taskapi.events import writer
from taskapi.kit.ids import uuid7
from taskapi.projects import service as projects
from taskapi.ratelimit import RateLimiter

BAD_CREDENTIALS = "Email or password is wrong"


class RefreshTokenReused(Unauthenticated):
    """A spent refresh token came back: its family is revoked, and that must be committed."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    user: UserRow


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What the token services need: the signer and the refresh lifetime."""

    issuer: TokenIssuer
    refresh_ttl: int


async def register(
    conn: AsyncConnection, *, email: str, password: str, display_name: str | None
) -> UserRow:
    """Creates a user and their Inbox."""
    password_hash = await passwords.hash_password(password)
    user = await repository.insert_user(
        conn,
        user_id=uuid7(),
        email=email,
        display_name=display_name or email.split("@", 1)[0],
        password_hash=password_hash,
    )
    await projects.create_project(conn, owner_id=user.id, name=projects.INBOX_NAME, is_inbox=True)
    return user


async def login(
    conn: AsyncConnection,
    *,
    email: str,
    password: str,
    auth: AuthContext,
    limiter: RateLimiter,
) -> TokenPair:
    """Checks the password and starts a new session (token family)."""
    account_key = email.lower()
    await limiter.check(limiter.login_failures, "login-failures", account_key)
    user = await repository.active_user_by_email(conn, email)
    # verify against a dummy hash for unknown emails, so both failures take as long
    password_ok = await passwords.verify_password(
        user.password_hash if user else passwords.dummy_hash(), password
    )
    if user is None or not password_ok:
        await limiter.hit(limiter.login_failures, "login-failures", account_key)
        raise Unauthenticated(BAD_CREDENTIALS)
    if passwords.needs_rehash(user.password_hash):
        await repository.update_password_hash(
            conn, user.id, await passwords.hash_password(password)
        )
    session_id = uuid7()
    await repository.insert_session(conn, session_id=session_id, user_id=user.id)
    return await _issue_pair(conn, user=user, session_id=session_id, auth=auth)


async def refresh(conn: AsyncConnection, *, refresh_token: str, auth: AuthContext) -> TokenPair:
    """Rotates a refresh token; a spent token presented again revokes its whole family."""
    token = await repository.spend_refresh_token(conn, hash_refresh_token(refresh_token))
    if token is None or token.session_revoked:
        raise Unauthenticated("The refresh token is not valid")
    if token.spent:
        await repository.revoke_session(conn, token.session_id)
        await writer.notify_revocation(conn, user_id=token.user_id, session_id=token.session_id)
        raise RefreshTokenReused("The refresh token was already used; the session is revoked")
    if token.expires_at <= datetime.now(UTC):
        raise Unauthenticated("The refresh token has expired")
    user = await repository.active_user(conn, token.user_id)
    if user is None:
        raise Unauthenticated("The refresh token is not valid")
    return await _issue_pair(conn, user=user, session_id=token.session_id, auth=auth)


async def logout(
    conn: AsyncConnection,
    *,
    refresh_token: str | None,
    access_session: tuple[uuid.UUID, uuid.UUID] | None,
) -> None:
    """Revokes the family of the refresh token and of the access token, when valid."""
    sessions: set[tuple[uuid.UUID, uuid.UUID]] = set()
    if access_session is not None:
        sessions.add(access_session)
    if refresh_token:
        token = await repository.session_of_refresh_token(conn, hash_refresh_token(refresh_token))
        if token is not None:
            sessions.add((token.user_id, token.session_id))
    for user_id, session_id in sessions:
        await repository.revoke_session(conn, session_id)
        await writer.notify_revocation(conn, user_id=user_id, session_id=session_id)


async def change_password(
    conn: AsyncConnection,
    *,
    user: UserRow,
    session_id: uuid.UUID,
    current_password: str,
    new_password: str,
    auth: AuthContext,
) -> TokenPair:
    """Sets a new password, revokes every other session, and issues a new pair for this one."""
    stored = await repository.active_user(conn, user.id)
    if stored is None or not await passwords.verify_password(
        stored.password_hash, current_password
    ):
        raise ValidationFailed.at(
            ["body", "current_password"], "The current password is wrong", "invalid_password"
        )
    await repository.update_password_hash(
        conn, user.id, await passwords.hash_password(new_password)
    )
    await repository.revoke_user_sessions(conn, user.id, except_session=session_id)
    await repository.spend_session_tokens(conn, session_id)
    await writer.notify_revocation(conn, user_id=user.id, except_session_id=session_id)
    return await _issue_pair(conn, user=stored, session_id=session_id, auth=auth)


async def deactivate(conn: AsyncConnection, *, user: UserRow, password: str) -> None:
    """Soft-deletes the account: its sessions, its sockets, its Inbox; the email becomes free."""
    stored = await repository.active_user(conn, user.id)
    if stored is None or not await passwords.verify_password(stored.password_hash, password):
        raise ValidationFailed.at(["body", "password"], "The password is wrong", "invalid_password")
    if await projects.owns_shared_project(conn, user_id=user.id):
        raise Conflict("You own a project shared with others: transfer or delete it before leaving")
    await projects.delete_projects_of_departing_user(conn, user_id=user.id)
    await projects.leave_all_projects(conn, user_id=user.id)
    await repository.revoke_user_sessions(conn, user.id)
    await repository.soft_delete_user(conn, user.id)
    await writer.notify_revocation(conn, user_id=user.id)


async def _issue_pair(
    conn: AsyncConnection, *, user: UserRow, session_id: uuid.UUID, auth: AuthContext
) -> TokenPair:
    refresh_token = new_refresh_token()
    await repository.insert_refresh_token(
        conn,
        token_hash=hash_refresh_token(refresh_token),
        session_id=session_id,
        user_id=user.id,
        expires_at=datetime.now(UTC) + timedelta(seconds=auth.refresh_ttl),
    )
    return TokenPair(
        access_token=auth.issuer.access_token(user_id=user.id, session_id=session_id),
        refresh_token=refresh_token,
        expires_in=auth.issuer.access_ttl,
        refresh_expires_in=auth.refresh_ttl,
        user=user,
    )

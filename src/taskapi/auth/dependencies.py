"""Who is calling: the access token from the Bearer header or the cookie (with CSRF)."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from taskapi.auth import repository
from taskapi.auth.repository import UserRow
from taskapi.auth.service import AuthContext
from taskapi.auth.tokens import TokenIssuer
from taskapi.db import SessionDep
from taskapi.errors import CsrfFailed, Unauthenticated
from taskapi.ratelimit import RateLimiter

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class Principal:
    user: UserRow
    session_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


def access_token_of(request: Request) -> tuple[str | None, bool]:
    """The access token and whether it came from the cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <access token>'")
        return token.strip(), False
    cookie = request.cookies.get(ACCESS_COOKIE)
    return (cookie, True) if cookie else (None, False)


def check_csrf(request: Request) -> None:
    """Double submit: an unsafe cookie-authenticated request echoes the csrf cookie in a header."""
    if request.method not in UNSAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    header = request.headers.get(CSRF_HEADER)
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise CsrfFailed("X-CSRF-Token must equal the csrf_token cookie")


def token_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


def auth_context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth_context
    return context


def rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def current_principal(request: Request, conn: SessionDep) -> Principal:
    token, via_cookie = access_token_of(request)
    if token is None:
        raise Unauthenticated("Authentication required")
    claims = token_issuer(request).verify_access(token)
    if via_cookie:
        check_csrf(request)
    limiter = rate_limiter(request)
    usage = await limiter.hit(limiter.per_user, "user", str(claims.user_id))
    request.scope.setdefault("state", {})["rate_limit"] = (
        usage.limit,
        usage.remaining,
        usage.reset_seconds,
    )
    user = await repository.user_of_live_session(
        conn, user_id=claims.user_id, session_id=claims.session_id
    )
    if user is None:
        raise Unauthenticated("The session has ended; log in again")
    return Principal(user=user, session_id=claims.session_id)


CurrentUser = Annotated[Principal, Depends(current_principal)]
AuthContextDep = Annotated[AuthContext, Depends(auth_context)]
RateLimiterDep = Annotated[RateLimiter, Depends(rate_limiter)]


async def limit_by_client_ip(request: Request) -> None:
    """The per-IP limit of the public auth endpoints."""
    limiter = rate_limiter(request)
    client = request.client.host if request.client else "unknown"
    await limiter.hit(limiter.per_ip, "auth-ip", client)

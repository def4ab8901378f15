"""Who is calling: the access token from the Bearer header or the cookie (with CSRF)."""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from taskapi.auth import repository
from taskapi.auth.repository import UserRow
from taskapi.auth.service import AuthContext
from taskapi.auth.tokens import AccessClaims, TokenIssuer
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


class VerifiedTokens:
    """Access tokens this process has already verified, so each one's signature is checked once.

    Decoding and verifying a JWT costs more than the rest of the authentication together; a
    client sends the same token on every request for its 15-minute life. The key is the whole
    token (signature included), so a forged or altered token always misses and is verified in
    full. Expiry is checked again on every use (an expired entry falls through to the full check,
    which answers as before), and revocation is untouched: ``current_principal`` still looks the
    session up in the database on every request.
    """

    def __init__(self, issuer: TokenIssuer, *, max_entries: int = 10_000) -> None:
        self.issuer = issuer
        self._max_entries = max_entries
        self._claims: dict[str, AccessClaims] = {}

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid access token; anything else is ``Unauthenticated``."""
        claims = self._claims.get(token)
        if claims is not None:
            if time.time() < claims.expires_at:
                return claims
            del self._claims[token]
        claims = self.issuer.verify_access(token)
        if len(self._claims) >= self._max_entries:
            del self._claims[next(iter(self._claims))]  # the oldest entry
        self._claims[token] = claims
        return claims


def verified_tokens(request: Request) -> VerifiedTokens:
    """The app's cache of verified access tokens (made on first use, tied to its issuer)."""
    state = request.app.state
    issuer = token_issuer(request)
    cache: VerifiedTokens | None = getattr(state, "verified_tokens", None)
    if cache is None or cache.issuer is not issuer:
        cache = VerifiedTokens(issuer)
        state.verified_tokens = cache
    return cache


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
    claims = verified_tokens(request).verify(token)
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

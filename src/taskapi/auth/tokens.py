"""Access tokens (JWT, HS256 pinned) and opaque refresh tokens (stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from taskapi.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "taskapi"
AUDIENCE = "taskapi"
ACCESS_TYPE = "access"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int


class TokenIssuer:
    def __init__(self, secret: str, *, access_ttl: int) -> None:
        self._key = hashlib.sha256(f"jwt:{secret}".encode()).hexdigest()
        self.access_ttl = access_ttl

    def access_token(self, *, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": ACCESS_TYPE,
        }
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A JWT of exactly these claims, signed with the server's key (tokens and tests)."""
        return jwt.encode(dict(claims), self._key, algorithm=ALGORITHM)

    def verify_access(self, token: str, *, allow_expired: bool = False) -> AccessClaims:
        """The claims of a valid access token; anything else is ``Unauthenticated``.

        ``allow_expired`` still checks everything but the expiry (logout ends the family of an
        expired token too).
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": ["sub", "sid", "exp", "iat", "iss", "aud", "typ"],
                    "verify_exp": not allow_expired,
                },
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is not valid") from None
        if claims.get("typ") != ACCESS_TYPE:
            raise Unauthenticated("Not an access token")
        try:
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                expires_at=int(claims["exp"]),
            )
        except (ValueError, TypeError):
            raise Unauthenticated("The access token is not valid") from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

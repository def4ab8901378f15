"""The browser's cookies: access, refresh (scoped to /api/v1/auth) and the readable CSRF token."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from taskapi.auth.dependencies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from taskapi.auth.service import TokenPair

REFRESH_PATH = "/api/v1/auth"


def set_auth_cookies(response: Response, pair: TokenPair, *, secure: bool) -> None:
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=pair.expires_in,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=pair.refresh_expires_in,
        path=REFRESH_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=pair.refresh_expires_in,
        path="/",
        httponly=False,
        samesite="strict",
        secure=secure,
    )


def clear_auth_cookies(response: Response, *, secure: bool) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(
            name, path=path, secure=secure, httponly=name != CSRF_COOKIE, samesite="strict"
        )

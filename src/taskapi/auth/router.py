"""``/api/v1/auth``: register, login, refresh, logout (all public, limited per client IP)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from taskapi.auth import service
from taskapi.auth.cookies import clear_auth_cookies, set_auth_cookies
from taskapi.auth.dependencies import (
    REFRESH_COOKIE,
    AuthContextDep,
    RateLimiterDep,
    access_token_of,
    check_csrf,
    limit_by_client_ip,
    token_issuer,
)
from taskapi.auth.schemas import Login, LogoutRequest, RefreshRequest, TokenPair, User, UserRegister
from taskapi.db import SessionDep
from taskapi.errors import AppError, Unauthenticated
from taskapi.problems import problem_response, request_id_of

router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(limit_by_client_ip)])


def secure_cookies(request: Request) -> bool:
    return not request.app.state.settings.development


def token_pair(pair: service.TokenPair) -> TokenPair:
    return TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
        user=User.model_validate(pair.user),
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "An active account already uses this email (`email-taken`)"}},
)
async def register(body: UserRegister, conn: SessionDep) -> User:
    """Create an account and its Inbox."""
    user = await service.register(
        conn, email=body.email, password=body.password, display_name=body.display_name
    )
    return User.model_validate(user)


@router.post("/login", responses={401: {"description": "Wrong email or password"}})
async def login(
    body: Login,
    request: Request,
    response: Response,
    conn: SessionDep,
    auth: AuthContextDep,
    limiter: RateLimiterDep,
) -> TokenPair:
    """Log in: a token pair in the body and in cookies."""
    pair = await service.login(
        conn, email=body.email, password=body.password, auth=auth, limiter=limiter
    )
    set_auth_cookies(response, pair, secure=secure_cookies(request))
    return token_pair(pair)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses={401: {"description": "Invalid, expired or reused token"}},
)
async def refresh(
    request: Request,
    response: Response,
    conn: SessionDep,
    auth: AuthContextDep,
    body: RefreshRequest | None = None,
) -> TokenPair | Response:
    """Rotate a refresh token (body or cookie) into a new pair."""
    token = body.refresh_token if body else None
    if not token:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("Send refresh_token in the body or the refresh cookie")
        check_csrf(request)
    try:
        pair = await service.refresh(conn, refresh_token=token, auth=auth)
    except service.RefreshTokenReused as reuse:
        # answered, not raised: raising would roll back the family's revocation
        answer = problem_response(
            reuse, path=request.url.path, request_id=request_id_of(request.scope)
        )
        clear_auth_cookies(answer, secure=secure_cookies(request))
        return answer
    set_auth_cookies(response, pair, secure=secure_cookies(request))
    return token_pair(pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, conn: SessionDep, body: LogoutRequest | None = None) -> Response:
    """End the session of the given refresh token (and of the access token); always 204."""
    token = body.refresh_token if body else None
    by_cookie = False
    if not token and request.cookies.get(REFRESH_COOKIE):
        token, by_cookie = request.cookies.get(REFRESH_COOKIE), True
    access_session = None
    try:
        access, via_cookie = access_token_of(request)
        by_cookie = by_cookie or via_cookie
        if access is not None:
            claims = token_issuer(request).verify_access(access, allow_expired=True)
            access_session = (claims.user_id, claims.session_id)
    except AppError:
        pass  # an expired or foreign access token still logs out
    if by_cookie:
        check_csrf(request)
    await service.logout(conn, refresh_token=token, access_session=access_session)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_auth_cookies(response, secure=secure_cookies(request))
    return response

"""``/api/v1/users``: the caller's profile, password and account; co-members' public profile."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from taskapi.auth import repository as accounts
from taskapi.auth import service as auth_service
from taskapi.auth.cookies import clear_auth_cookies, set_auth_cookies
from taskapi.auth.dependencies import AuthContextDep, CurrentUser
from taskapi.auth.router import secure_cookies, token_pair
from taskapi.auth.schemas import AccountDeletion, PasswordChange, TokenPair, User
from taskapi.db import SessionDep
from taskapi.errors import NotFound
from taskapi.users import repository
from taskapi.users.schemas import PublicUser, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def get_me(principal: CurrentUser) -> User:
    """The caller's profile."""
    return User.model_validate(principal.user)


@router.patch("/me")
async def update_me(body: UserUpdate, principal: CurrentUser, conn: SessionDep) -> User:
    """Change the caller's display name."""
    user = await accounts.update_display_name(conn, principal.id, body.display_name)
    return User.model_validate(user)


@router.post("/me/password", responses={422: {"description": "Wrong current password"}})
async def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    principal: CurrentUser,
    conn: SessionDep,
    auth: AuthContextDep,
) -> TokenPair:
    """Change the password: every other session ends; a new token pair for this one."""
    pair = await auth_service.change_password(
        conn,
        user=principal.user,
        session_id=principal.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        auth=auth,
    )
    set_auth_cookies(response, pair, secure=secure_cookies(request))
    return token_pair(pair)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "The user owns a project shared with others"}},
)
async def delete_me(
    body: AccountDeletion, request: Request, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Deactivate the account (soft): sessions end, the Inbox goes, the email becomes free."""
    await auth_service.deactivate(conn, user=principal.user, password=body.password)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_auth_cookies(response, secure=secure_cookies(request))
    return response


@router.get("/{user_id}")
async def get_user(user_id: uuid.UUID, principal: CurrentUser, conn: SessionDep) -> PublicUser:
    """Another user's public profile, if they are or were a member of a project you see."""
    row = await repository.co_member(conn, viewer_id=principal.id, user_id=user_id)
    if row is None:
        raise NotFound("No such user")
    return PublicUser.model_validate(row)

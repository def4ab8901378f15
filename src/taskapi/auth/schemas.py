from __future__ import annotations

import uuid
from typing import Literal

from taskapi.kit.schemas import DisplayName, Email, InputModel, OutputModel, Password
from taskapi.kit.time import UtcDatetime


class User(OutputModel):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: UtcDatetime


class UserRegister(InputModel):
    email: Email
    password: Password
    display_name: DisplayName | None = None


class Login(InputModel):
    email: Email
    password: str


class RefreshRequest(InputModel):
    refresh_token: str | None = None


class LogoutRequest(InputModel):
    refresh_token: str | None = None


class TokenPair(OutputModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_expires_in: int
    user: User


class PasswordChange(InputModel):
    current_password: str
    new_password: Password


class AccountDeletion(InputModel):
    password: str

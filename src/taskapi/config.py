"""Settings from the environment (prefix ``TASKAPI_``, plus ``DATABASE_URL`` and ``REDIS_URL``).

A bad value stops start-up with a clear message; a placeholder secret is refused outside
development.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "changethis", "dev", "test", "password"}
SECRET_KEY_FILE = "secret_key"


def _default_log_format() -> Literal["console", "json"]:
    return "console" if sys.stderr.isatty() else "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKAPI_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    data_dir: Path = Path("./.taskapi")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "TASKAPI_DATABASE_URL")
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "TASKAPI_REDIS_URL")
    )
    secret_key: str | None = None
    access_token_ttl: int = Field(900, ge=10)
    refresh_token_ttl: int = Field(2_592_000, ge=60)
    rate_limit: str = "100/minute"
    auth_rate_limit: str = "20/minute"
    login_failure_limit: str = "5/15minutes"
    cors_origins: Annotated[list[str], NoDecode] = []
    ws_idle_timeout: float = Field(60, gt=0)
    ws_sweep_interval: float = Field(60, gt=0)
    ws_auth_timeout: float = Field(5, gt=0)
    ws_max_per_user: int = Field(20, ge=1)
    event_retention_days: int = Field(30, ge=1)
    log_format: Literal["console", "json"] = Field(default_factory=_default_log_format)
    search_config: str = Field("english", pattern=r"^[a-z_]+$")
    db_pool_size: int = Field(20, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' is not allowed: credentials are sent, so list each origin")
        return value

    @field_validator("rate_limit", "auth_rate_limit", "login_failure_limit")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '100/minute': {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+")
        ):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        key = self.secret_key
        if (
            key is not None
            and not self.development
            and (key.lower() in PLACEHOLDER_SECRETS or len(key) < 32)
        ):
            raise ValueError(
                "TASKAPI_SECRET_KEY is a placeholder or shorter than 32 characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @property
    def development(self) -> bool:
        """Development mode: serving on a loopback address only (cookies are then not Secure)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    def resolved_secret_key(self) -> str:
        """The configured secret, else one generated once into the data directory (mode 0600)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # written whole under a private name, then linked into place: a concurrent
            # process never reads a half-written key, and the first one to link wins
            staging = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
                with contextlib.suppress(FileExistsError):
                    os.link(staging, path)
            finally:
                staging.unlink()
        key = path.read_text().strip()
        if len(key) < 32:
            raise ValueError(f"{path} holds no usable secret key; delete it to generate one")
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()

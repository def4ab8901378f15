"""Shared fixtures: a migrated database, the app over ASGI, and users made through the API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from taskapi.app import create_app
from taskapi.config import Settings
from taskapi.db import migrate
from tests.fixtures.database import (
    create_database,
    drop_database,
    server_url,
    unique_database_name,
    with_database,
)
from tests.fixtures.factories import UserSession, register_user

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url, embedded = server_url()
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    name = unique_database_name()
    await create_database(pg_server_url, name)
    url = with_database(pg_server_url, name)
    await migrate(url)
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "rate_limit": "100000/minute",
        "auth_rate_limit": "100000/minute",
        "login_failure_limit": "1000/minute",
        "log_format": "json",
        "db_pool_size": 10,
    }
    if os.environ.get("REDIS_URL"):
        values["redis_url"] = os.environ["REDIS_URL"]
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


@pytest.fixture
async def user(client: httpx.AsyncClient) -> UserSession:
    return await register_user(client)


@pytest.fixture
async def other_user(client: httpx.AsyncClient) -> UserSession:
    return await register_user(client)

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user


@pytest.fixture
async def third_user(client: httpx.AsyncClient) -> UserSession:
    return await register_user(client)

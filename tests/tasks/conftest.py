from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.factories import UserSession, register_user
from tests.tasks.factories import create_project, share


@pytest.fixture
async def third_user(client: httpx.AsyncClient) -> UserSession:
    return await register_user(client)


@dataclass
class Team:
    """A project of ``owner`` shared with an editor and a viewer; ``outsider`` is no member."""

    project_id: str
    owner: UserSession
    editor: UserSession
    viewer: UserSession
    outsider: UserSession


@pytest.fixture
async def team(client: httpx.AsyncClient) -> Team:
    owner, editor, viewer, outsider = [await register_user(client) for _ in range(4)]
    project_id = await create_project(client, owner=owner)
    await share(client, owner=owner, project_id=project_id, member=editor, role="editor")
    await share(client, owner=owner, project_id=project_id, member=viewer, role="viewer")
    return Team(project_id, owner, editor, viewer, outsider)

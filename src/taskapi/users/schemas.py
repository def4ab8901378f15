from __future__ import annotations

import uuid

from taskapi.kit.schemas import DisplayName, InputModel, OutputModel


class UserUpdate(InputModel):
    display_name: DisplayName


class PublicUser(OutputModel):
    id: uuid.UUID
    display_name: str

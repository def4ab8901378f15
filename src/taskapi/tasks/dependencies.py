"""Per-app cursor codecs for task lists, the trash and task history (built once, cached)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from taskapi.kit.cursors import CursorCodec


class TaskCursors:
    def __init__(self, secret: str) -> None:
        self.tasks = CursorCodec(secret, purpose="tasks")
        self.trash = CursorCodec(secret, purpose="trash")
        self.history = CursorCodec(secret, purpose="task-history")


def task_cursors(request: Request) -> TaskCursors:
    state = request.app.state
    cursors: TaskCursors | None = getattr(state, "task_cursors", None)
    if cursors is None:
        cursors = TaskCursors(state.settings.resolved_secret_key())
        state.task_cursors = cursors
    return cursors


TaskCursorsDep = Annotated[TaskCursors, Depends(task_cursors)]

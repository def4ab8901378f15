"""`POST /api/v1/tasks/bulk`: many task changes in one request (API.md §4 "Bulk")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, status
from pydantic import Field, StrictBool, StringConstraints
from starlette.responses import Response

from taskapi.auth.dependencies import CurrentUser
from taskapi.db import SessionDep
from taskapi.errors import BulkRejected
from taskapi.idempotency import JsonAnswer, idempotent
from taskapi.kit.schemas import InputModel, OutputModel
from taskapi.problems import request_id_of
from taskapi.tasks import bulk
from taskapi.tasks.schemas import Task, Version

router = APIRouter(tags=["tasks"])

MAX_OPERATIONS = 500

Ref = Annotated[str, StringConstraints(min_length=1, max_length=255)]
TaskRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    Field(description="A task id, or the ref of an earlier create in this request"),
]


class CreateOperation(InputModel):
    op: Literal["create"]
    ref: Ref | None = Field(
        default=None, description="A name for this task that later operations may use"
    )
    data: dict[str, Any] = Field(
        description="As the body of `POST /tasks`; `parent_id` may be an earlier ref"
    )


class UpdateOperation(InputModel):
    op: Literal["update"]
    id: TaskRef
    version: Version | None = Field(
        default=None, description="The version you read (required: without it, 428)"
    )
    data: dict[str, Any] = Field(
        description="A JSON merge patch, as the body of `PATCH /tasks/{id}` without `version`"
    )


class DeleteOperation(InputModel):
    op: Literal["delete"]
    id: TaskRef
    version: Version | None = None


class RestoreOperation(InputModel):
    op: Literal["restore"]
    id: TaskRef


Operation = Annotated[
    CreateOperation | UpdateOperation | DeleteOperation | RestoreOperation,
    Field(discriminator="op"),
]


class BulkRequest(InputModel):
    atomic: StrictBool = True
    operations: list[Operation] = Field(min_length=1, max_length=MAX_OPERATIONS)


class BulkResult(OutputModel):
    index: int
    op: Literal["create", "update", "delete", "restore"]
    ref: str | None
    status: int
    task: Task | None = None
    problem: dict[str, Any] | None = None


class BulkResponse(OutputModel):
    results: list[BulkResult]


_DESCRIPTION = """
Up to 500 operations, applied in order: `create {ref?, data}`, `update {id, version, data}`,
`delete {id, version?}`, `restore {id}`. Each follows its single call (validation, access,
versions, events). `ref` names a create for later operations (`id`, `data.parent_id`); refs are
unique and not UUID-shaped.

`atomic` (default true): all or nothing. If any operation fails, nothing is applied and the
answer is `409 bulk-rejected` with `results`: each failing operation's `status` and `problem`,
the others `424`. Not atomic: each operation stands alone; `200` with each result's own
`status` (`problem` on failures). An operation naming the ref of a failed create is not applied
either (`424` in an atomic batch, `422` otherwise).

Honours `Idempotency-Key`; a bulk request counts once against the rate limit.
"""


@router.post(
    "/tasks/bulk",
    response_model=BulkResponse,
    description=_DESCRIPTION,
    responses={
        409: {"description": "Atomic batch rejected (`bulk-rejected` with `results`)"},
        422: {"description": "The body does not fit the schema as a whole"},
    },
)
async def bulk_tasks(
    body: BulkRequest, request: Request, principal: CurrentUser, conn: SessionDep
) -> Response:
    """Apply many task changes in one request."""
    raw_body = await request.json()
    operations = [operation.model_dump() for operation in body.operations]

    async def produce() -> JsonAnswer:
        outcomes = await bulk.run(
            conn, actor_id=principal.id, operations=operations, atomic=body.atomic
        )
        results = [_result(request, outcome) for outcome in outcomes]
        if body.atomic and any(outcome.failed for outcome in outcomes):
            raise BulkRejected(
                "An operation failed, so none was applied", extra={"results": results}
            )
        return JsonAnswer(status.HTTP_200_OK, {"results": results})

    return await idempotent(request, conn, user_id=principal.id, body=raw_body, produce=produce)


def _result(request: Request, outcome: bulk.Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {
        "index": outcome.index,
        "op": outcome.op,
        "ref": outcome.ref,
        "status": outcome.status,
        "task": outcome.task,
    }
    if outcome.error is not None:
        result["problem"] = outcome.error.problem(
            instance=request.url.path, request_id=request_id_of(request.scope)
        )
    return result

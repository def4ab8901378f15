"""Bulk task changes (API.md §4 "Bulk"): each operation is the single call's service function.

Refs name earlier creates; ids and ``parent_id`` may use them. Atomic batches stop being
applied at the first failure but every operation is still checked, so the answer lists each
failing one; the caller rolls the transaction back. Non-atomic batches run each operation in its
own savepoint, so a failing one leaves nothing behind and the others stay.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pydantic
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import AppError, ValidationFailed
from taskapi.events import writer
from taskapi.projects import access
from taskapi.tasks import repository, service
from taskapi.tasks.schemas import TaskCreate
from taskapi.versioning import ExpectedVersion, expected_version

# a dependent of a failed create is not applied either (424 Failed Dependency)
NOT_APPLIED = 424


@dataclass(frozen=True, slots=True)
class Outcome:
    """One operation's result: ``status`` and the task, or the error that stopped it."""

    index: int
    op: str
    ref: str | None
    status: int
    task: dict[str, Any] | None = None
    error: AppError | None = None
    aborted: bool = False  # the failure left the transaction unusable

    @property
    def failed(self) -> bool:
        return self.status >= 400


class _DependencyFailed(Exception):
    """An operation names the ref of a create that failed."""


def is_uuid(value: str) -> bool:
    """Whether a string reads as a UUID in any of the forms ``uuid.UUID`` accepts."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_refs(operations: Sequence[Mapping[str, Any]]) -> None:
    """Refs are unique within the request and not UUID-shaped (else the whole body is a 422)."""
    defined: dict[str, int] = {}
    for index, operation in enumerate(operations):
        ref = operation.get("ref")
        if ref is None:
            continue
        loc: list[str | int] = ["body", "operations", index, "ref"]
        if is_uuid(ref):
            raise ValidationFailed.at(loc, "A ref must not look like a UUID", "ref_uuid_shaped")
        if ref in defined:
            raise ValidationFailed.at(
                loc, f"ref {ref!r} is already defined by operation {defined[ref]}", "ref_repeated"
            )
        defined[ref] = index


class _Refs:
    """The ids of the creates run so far, by ref; refs whose create failed."""

    def __init__(self) -> None:
        self.ids: dict[str, uuid.UUID] = {}
        self.failed: set[str] = set()

    def resolve(self, value: Any, loc: list[str | int], *, path_id: bool) -> Any:
        """A UUID for a UUID or a known ref; other values pass through for the schema to judge."""
        if not isinstance(value, str) or is_uuid(value):
            return value
        if value in self.ids:
            return self.ids[value]
        if value in self.failed:
            raise _DependencyFailed(value)
        if path_id:
            raise ValidationFailed.at(
                loc, f"{value!r} is neither a UUID nor the ref of an earlier create", "ref_unknown"
            )
        return value


async def run(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    operations: Sequence[Mapping[str, Any]],
    atomic: bool,
) -> list[Outcome]:
    """Applies the operations in order and returns each one's outcome.

    Atomic: once one fails, the rest are still checked but their effects are moot, because the
    caller rolls back everything. Non-atomic: each runs in a savepoint and stands alone.
    """
    check_refs(operations)
    refs = _Refs()
    outcomes: list[Outcome] = []
    # creates without a project go to the Inbox: name it once rather than per operation
    inbox = None
    if any(op["op"] == "create" and op["data"].get("project_id") is None for op in operations):
        inbox = await repository.inbox_id(conn, user_id=actor_id)
    # the events of all operations go in one statement at the end (same rows, same order)
    with access.roles_read_once():
        async with writer.deferred(conn) as pending_events:
            creates = _Creates()
            for index, operation in enumerate(operations):
                if atomic and outcomes and outcomes[-1].aborted:
                    # the database refused the transaction (a deadlock): nothing more can run
                    outcomes.append(
                        Outcome(index, operation["op"], operation.get("ref"), NOT_APPLIED)
                    )
                    continue
                if atomic and operation["op"] == "create":
                    # checked now, inserted with the next creates in one statement
                    outcomes.append(
                        await _plan(conn, actor_id, index, operation, refs, creates, inbox=inbox)
                    )
                    continue
                await creates.insert(conn, actor_id, outcomes)
                applied_events = len(pending_events)
                outcome = await _outcome(
                    conn, actor_id, index, operation, refs, atomic=atomic, inbox=inbox
                )
                if outcome.failed:
                    del pending_events[applied_events:]
                outcomes.append(outcome)
            await creates.insert(conn, actor_id, outcomes)
            if atomic and any(outcome.failed for outcome in outcomes):
                pending_events.clear()  # rolled back by the caller: not worth writing
    if atomic and any(outcome.failed for outcome in outcomes):
        # in an atomic batch, nothing is applied: the successes become "not applied"
        outcomes = [
            outcome
            if outcome.error is not None
            else Outcome(outcome.index, outcome.op, outcome.ref, NOT_APPLIED)
            for outcome in outcomes
        ]
    return outcomes


class _Creates:
    """The run of consecutive creates checked but not inserted yet (atomic batches)."""

    def __init__(self) -> None:
        self.plans: dict[uuid.UUID, service.PlannedCreate] = {}
        self.indexes: list[int] = []  # of their outcomes

    async def insert(
        self, conn: AsyncConnection, actor_id: uuid.UUID, outcomes: list[Outcome]
    ) -> None:
        """Inserts the run (one statement) and completes its outcomes with the tasks."""
        if not self.plans:
            return
        plans, indexes = list(self.plans.values()), self.indexes
        self.plans, self.indexes = {}, []
        if any(outcome.aborted for outcome in outcomes):
            return  # the transaction is unusable; the batch is rejected anyway
        try:
            tasks = await service.create_planned(conn, actor_id=actor_id, plans=plans)
        except AppError as exc:
            # the database aborted the statement (a deadlock): the run's first create failed
            first = outcomes[indexes[0]]
            outcomes[indexes[0]] = Outcome(
                first.index,
                first.op,
                first.ref,
                exc.status,
                error=exc,
                aborted=isinstance(exc.__context__, DBAPIError),
            )
            return
        for index, task in zip(indexes, tasks, strict=True):
            outcomes[index] = replace(outcomes[index], task=task)


async def _plan(
    conn: AsyncConnection,
    actor_id: uuid.UUID,
    index: int,
    operation: Mapping[str, Any],
    refs: _Refs,
    creates: _Creates,
    *,
    inbox: uuid.UUID | None,
) -> Outcome:
    """Checks one create of an atomic batch like the single call, for ``creates`` to insert."""
    ref: str | None = operation.get("ref")
    try:
        data = _create_data(operation, index, refs, inbox)
        plan = await service.plan_create(conn, actor_id=actor_id, data=data, planned=creates.plans)
    except _DependencyFailed:
        if ref is not None:
            refs.failed.add(ref)
        return Outcome(index, "create", ref, NOT_APPLIED)
    except AppError as exc:
        if ref is not None:
            refs.failed.add(ref)
        aborted = isinstance(exc.__context__, DBAPIError)
        return Outcome(
            index, "create", ref, exc.status, error=_located(exc, index), aborted=aborted
        )
    if ref is not None:
        refs.ids[ref] = plan.id
    creates.plans[plan.id] = plan
    creates.indexes.append(index)
    return Outcome(index, "create", ref, 201)


async def _outcome(
    conn: AsyncConnection,
    actor_id: uuid.UUID,
    index: int,
    operation: Mapping[str, Any],
    refs: _Refs,
    *,
    atomic: bool,
    inbox: uuid.UUID | None,
) -> Outcome:
    kind: str = operation["op"]
    ref: str | None = operation.get("ref")
    try:
        if atomic:
            # no savepoint: once one operation fails, the whole batch is rolled back anyway
            status, task = await _apply(conn, actor_id, index, operation, refs, inbox)
        else:
            async with conn.begin_nested():
                status, task = await _apply(conn, actor_id, index, operation, refs, inbox)
    except _DependencyFailed as failed:
        if ref is not None:
            refs.failed.add(ref)
        error: AppError | None = None
        if not atomic:
            error = ValidationFailed.at(
                ["body", "operations", index],
                f"ref {failed.args[0]!r} names a create that failed",
                "ref_failed",
            )
        return Outcome(index, kind, ref, NOT_APPLIED, error=error)
    except AppError as exc:
        if ref is not None:
            refs.failed.add(ref)
        # an error the database raised (a deadlock, answered 409) aborts the transaction; a
        # savepoint recovers from it, an atomic batch (none) cannot go on
        aborted = isinstance(exc.__context__, DBAPIError)
        return Outcome(index, kind, ref, exc.status, error=_located(exc, index), aborted=aborted)
    if ref is not None and task is not None:
        refs.ids[ref] = uuid.UUID(task["id"])
    return Outcome(index, kind, ref, status, task=task)


async def _apply(
    conn: AsyncConnection,
    actor_id: uuid.UUID,
    index: int,
    operation: Mapping[str, Any],
    refs: _Refs,
    inbox: uuid.UUID | None,
) -> tuple[int, dict[str, Any] | None]:
    kind = operation["op"]
    at: list[str | int] = ["body", "operations", index]
    if kind == "create":
        create = _create_data(operation, index, refs, inbox)
        return 201, await service.create_task(conn, actor_id=actor_id, data=create)
    task_id = _task_id(refs, operation["id"], [*at, "id"])
    if kind == "update":
        patch = dict(operation["data"])
        if "parent_id" in patch:
            patch["parent_id"] = refs.resolve(
                patch["parent_id"], [*at, "data", "parent_id"], path_id=False
            )
        expected = expected_version(body_version=operation.get("version"), if_match=None)
        task = await service.update_task(
            conn, actor_id=actor_id, task_id=task_id, patch=patch, expected=expected
        )
        return 200, task
    if kind == "delete":
        version = operation.get("version")
        await service.delete_task(
            conn,
            actor_id=actor_id,
            task_id=task_id,
            expected=None if version is None else ExpectedVersion(version, from_header=False),
        )
        return 204, None
    return 200, await service.restore_task(conn, actor_id=actor_id, task_id=task_id)


def _task_id(refs: _Refs, value: str, loc: list[str | int]) -> uuid.UUID:
    resolved = refs.resolve(value, loc, path_id=True)
    if isinstance(resolved, uuid.UUID):
        return resolved
    return uuid.UUID(resolved)


def _create_data(
    operation: Mapping[str, Any], index: int, refs: _Refs, inbox: uuid.UUID | None
) -> TaskCreate:
    data = dict(operation["data"])
    if data.get("project_id") is None and inbox is not None:
        data["project_id"] = inbox  # what the single call does without a project_id
    if "parent_id" in data:
        data["parent_id"] = refs.resolve(
            data["parent_id"], ["body", "operations", index, "data", "parent_id"], path_id=False
        )
    return _validated_create(data, index)


def _validated_create(data: dict[str, Any], index: int) -> TaskCreate:
    try:
        return TaskCreate.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [
            {
                "loc": ["body", "operations", index, "data", *error["loc"]],
                "msg": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailed(errors) from None


def _located(error: AppError, index: int) -> AppError:
    """A body validation error of the single call, located inside this operation's ``data``."""
    if not isinstance(error, ValidationFailed) or type(error) is not ValidationFailed:
        return error
    errors = []
    for item in error.extra.get("errors", []):
        loc = list(item.get("loc", []))
        if loc[:1] == ["body"] and loc[1:2] != ["operations"]:
            loc = ["body", "operations", index, "data", *loc[1:]]
        errors.append({**item, "loc": loc})
    return ValidationFailed(errors, detail=error.detail)

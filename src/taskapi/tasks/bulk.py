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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

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

    def copy(self) -> _Refs:
        copied = _Refs()
        copied.ids, copied.failed = dict(self.ids), set(self.failed)
        return copied

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
            creates = _Creates(
                conn,
                actor_id,
                operations,
                refs,
                outcomes,
                pending_events,
                atomic=atomic,
                inbox=inbox,
            )
            for index, operation in enumerate(operations):
                if operation["op"] != "create":
                    await creates.insert()  # the creates before it are written first
                if atomic and (creates.aborted or (outcomes and outcomes[-1].aborted)):
                    # the database refused the transaction (a deadlock): nothing more can run
                    outcomes.append(
                        Outcome(index, operation["op"], operation.get("ref"), NOT_APPLIED)
                    )
                    continue
                if operation["op"] == "create":
                    # checked now, inserted with the next creates in one statement
                    await creates.add(index, operation)
                    continue
                applied_events = len(pending_events)
                outcome = await _outcome(
                    conn, actor_id, index, operation, refs, atomic=atomic, inbox=inbox
                )
                if outcome.failed:
                    del pending_events[applied_events:]
                outcomes.append(outcome)
            await creates.insert()
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
    """The run of consecutive creates checked but not inserted yet.

    Each create is checked like the single call and its failure reported at its own index; the
    valid ones are inserted together when the run ends. Not atomic, the run has one savepoint:
    should the database abort a statement in it (a deadlock), the run is rolled back and done
    again with one savepoint per operation, so that each still stands alone.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        actor_id: uuid.UUID,
        operations: Sequence[Mapping[str, Any]],
        refs: _Refs,
        outcomes: list[Outcome],
        pending_events: list[dict[str, Any]],
        *,
        atomic: bool,
        inbox: uuid.UUID | None,
    ) -> None:
        self.conn, self.actor_id, self.refs, self.outcomes = conn, actor_id, refs, outcomes
        self.pending_events, self.atomic, self.inbox = pending_events, atomic, inbox
        self.plans: dict[uuid.UUID, service.PlannedCreate] = {}
        self.indexes: list[int] = []  # of the planned creates' outcomes
        self.run: list[tuple[int, Mapping[str, Any]]] = []  # every create of the run
        self.savepoint: AsyncTransaction | None = None
        self.refs_before = _Refs()
        self.events_before = 0
        self.aborted = False  # atomic: the database aborted the transaction
        self.operations = operations
        # the run's parents and assignees, read together by its first create
        self.wanted: tuple[set[uuid.UUID], set[tuple[uuid.UUID, uuid.UUID]]] | None = None
        self.lookups = service.CreateLookups()

    async def add(self, index: int, operation: Mapping[str, Any]) -> None:
        """Checks one create; appends its outcome (201 until inserted, or its failure)."""
        if not self.run:
            if not self.atomic:
                self.savepoint = await self.conn.begin_nested()
            self.refs_before = self.refs.copy()
            self.events_before = len(self.pending_events)
            self.wanted = self._wanted(index)
        self.run.append((index, operation))
        outcome = await self._plan(index, operation)
        self.outcomes.append(outcome)
        if outcome.aborted:
            if self.atomic:
                self.aborted = True
            else:
                await self._one_by_one()

    async def insert(self) -> None:
        """Inserts the run's valid creates (one statement) and completes their outcomes."""
        if not self.run:
            return
        if self.plans and not self.aborted:
            try:
                tasks = await service.create_planned(
                    self.conn, actor_id=self.actor_id, plans=list(self.plans.values())
                )
            except AppError as exc:
                if not self.atomic:
                    await self._one_by_one()
                    return
                # the database aborted the statement (a deadlock): the run's first create failed
                first = self.outcomes[self.indexes[0]]
                self.aborted = isinstance(exc.__context__, DBAPIError)
                self.outcomes[self.indexes[0]] = Outcome(
                    first.index, first.op, first.ref, exc.status, error=exc, aborted=self.aborted
                )
                self._reset()
                return
            for index, task in zip(self.indexes, tasks, strict=True):
                self.outcomes[index] = replace(self.outcomes[index], task=task)
        if self.savepoint is not None:
            await self.savepoint.commit()
        self._reset()

    def _reset(self) -> None:
        self.plans, self.indexes, self.run, self.savepoint = {}, [], [], None
        self.wanted, self.lookups = None, service.CreateLookups()

    def _wanted(self, start: int) -> tuple[set[uuid.UUID], set[tuple[uuid.UUID, uuid.UUID]]] | None:
        """The existing parents and the (project, assignee) pairs the run starting at ``start``
        names; ``None`` if none."""
        parents: set[uuid.UUID] = set()
        assignees: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for operation in self.operations[start:]:
            if operation["op"] != "create":
                break
            data = operation["data"]
            parent = data.get("parent_id")
            if isinstance(parent, str):
                if is_uuid(parent):
                    parents.add(uuid.UUID(parent))
                elif parent in self.refs.ids:
                    parents.add(self.refs.ids[parent])
            assignee, project = data.get("assignee_id"), data.get("project_id")
            if isinstance(assignee, str) and is_uuid(assignee):
                if project is None and self.inbox is not None:
                    assignees.add((self.inbox, uuid.UUID(assignee)))
                elif isinstance(project, str) and is_uuid(project):
                    assignees.add((uuid.UUID(project), uuid.UUID(assignee)))
        return (parents, assignees) if parents or assignees else None

    async def _one_by_one(self) -> None:
        """Rolls the run back and applies its creates again, each in a savepoint of its own."""
        run, savepoint = self.run, self.savepoint
        assert savepoint is not None
        self._reset()
        await savepoint.rollback()
        del self.pending_events[self.events_before :]
        del self.outcomes[run[0][0] :]
        self.refs.ids, self.refs.failed = self.refs_before.ids, self.refs_before.failed
        for index, operation in run:
            applied_events = len(self.pending_events)
            outcome = await _outcome(
                self.conn,
                self.actor_id,
                index,
                operation,
                self.refs,
                atomic=False,
                inbox=self.inbox,
            )
            if outcome.failed:
                del self.pending_events[applied_events:]
            self.outcomes.append(outcome)

    async def _plan(self, index: int, operation: Mapping[str, Any]) -> Outcome:
        """Checks one create like the single call, for ``insert`` to write."""
        ref: str | None = operation.get("ref")
        try:
            if self.wanted is not None:
                parent_ids, assignees = self.wanted
                self.wanted = None
                self.lookups = await service.look_up_creates(
                    self.conn, actor_id=self.actor_id, parent_ids=parent_ids, assignees=assignees
                )
            data = _create_data(operation, index, self.refs, self.inbox)
            plan = await service.plan_create(
                self.conn,
                actor_id=self.actor_id,
                data=data,
                planned=self.plans,
                lookups=self.lookups,
            )
        except _DependencyFailed as failed:
            if ref is not None:
                self.refs.failed.add(ref)
            error = None if self.atomic else _dependency_error(index, failed)
            return Outcome(index, "create", ref, NOT_APPLIED, error=error)
        except AppError as exc:
            if ref is not None:
                self.refs.failed.add(ref)
            aborted = isinstance(exc.__context__, DBAPIError)
            return Outcome(
                index, "create", ref, exc.status, error=_located(exc, index), aborted=aborted
            )
        if ref is not None:
            self.refs.ids[ref] = plan.id
        self.plans[plan.id] = plan
        self.indexes.append(index)
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
        error = None if atomic else _dependency_error(index, failed)
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


def _dependency_error(index: int, failed: _DependencyFailed) -> AppError:
    return ValidationFailed.at(
        ["body", "operations", index],
        f"ref {failed.args[0]!r} names a create that failed",
        "ref_failed",
    )


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

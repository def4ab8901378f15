"""Project rules: creation (the Inbox too), sharing, ownership, soft delete and restore.

Every change locks the project row first, then checks the caller's access, so concurrent
changes of one project (a transfer and an invitation, say) apply one after the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi import versioning
from taskapi.errors import Conflict, Forbidden, NotFound
from taskapi.events import writer
from taskapi.kit.ids import uuid7
from taskapi.kit.time import format_utc
from taskapi.projects import access, repository
from taskapi.projects.access import Role
from taskapi.tasks import service as tasks

INBOX_NAME = "Inbox"


@dataclass(frozen=True, slots=True)
class ProjectView:
    """A project row as one user sees it: with their role."""

    row: Any
    role: Role

    def as_json(self) -> dict[str, Any]:
        return {**repository.project_data(self.row), "role": self.role}


async def create_project(
    conn: AsyncConnection,
    *,
    owner_id: uuid.UUID,
    name: str,
    description: str = "",
    is_inbox: bool = False,
) -> Any:
    """Creates a project owned by ``owner_id`` (its owner membership and its event too)."""
    row = await repository.insert_project(
        conn,
        project_id=uuid7(),
        owner_id=owner_id,
        name=name,
        description=description,
        is_inbox=is_inbox,
    )
    await repository.insert_owner_membership(conn, project_id=row.id, user_id=owner_id)
    await _record_project(
        conn,
        "project.created",
        project_id=row.id,
        version=row.version,
        actor_id=owner_id,
        data=repository.project_data(row),
    )
    return row


async def delete_projects_of_departing_user(conn: AsyncConnection, *, user_id: uuid.UUID) -> None:
    """Soft-deletes the projects of a user who deactivates (the Inbox, and unshared ones)."""
    for row in await repository.soft_delete_owned_projects(conn, user_id=user_id):
        await _record_project(
            conn,
            "project.deleted",
            project_id=row.id,
            version=row.version,
            actor_id=user_id,
            data=_tombstone(row),
        )


async def leave_all_projects(conn: AsyncConnection, *, user_id: uuid.UUID) -> None:
    """Ends a departing user's memberships in others' live projects, as if each were left."""
    for project_id in await repository.joined_project_ids(conn, user_id=user_id):
        await remove_member(conn, actor_id=user_id, project_id=project_id, user_id=user_id)


async def owns_shared_project(conn: AsyncConnection, *, user_id: uuid.UUID) -> bool:
    """Whether the user owns a live project that has other active members."""
    return await repository.owns_shared_project(conn, user_id)


# ---------------------------------------------------------------- projects


async def list_projects(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    after: tuple[bool, datetime, uuid.UUID] | None,
    limit: int,
) -> list[ProjectView]:
    """The user's live projects after a keyset position: Inbox first, then oldest first."""
    rows = await repository.list_projects(conn, user_id=user_id, after=after, limit=limit)
    return [ProjectView(row, row.role) for row in rows]


async def get_project(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> ProjectView:
    """A live project the user is a member of, with their role; else ``NotFound``."""
    role = await access.require_reader(conn, user_id=user_id, project_id=project_id)
    row = await repository.get_project(conn, project_id=project_id)
    return ProjectView(row, role)


async def update_project(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    body_version: int | None,
    if_match: str | None,
    fields: dict[str, Any],
) -> ProjectView:
    """Renames or re-describes a project (owner, editor) under the optimistic-locking rules."""
    row = await _lock(conn, project_id)
    role = await access.require_writer(conn, user_id=user_id, project_id=project_id)
    expected = versioning.expected_version(body_version=body_version, if_match=if_match)
    versioning.check_version(
        expected,
        current_version=row.version,
        current=ProjectView(row, role).as_json(),
        entity="Project",
    )
    name = fields.get("name", row.name)
    description = fields.get("description", row.description)
    if description is None:
        description = ""
    if row.is_inbox and name != row.name:
        raise Conflict("The Inbox cannot be renamed")
    changes = {
        field: {"before": getattr(row, field), "after": after}
        for field, after in (("name", name), ("description", description))
        if getattr(row, field) != after
    }
    if not changes:
        return ProjectView(row, role)
    updated = await repository.update_project(
        conn, project_id=project_id, name=name, description=description
    )
    await _record_project(
        conn,
        "project.updated",
        project_id=project_id,
        version=updated.version,
        actor_id=user_id,
        data=repository.project_data(updated),
        changes=changes,
    )
    return ProjectView(updated, role)


async def delete_project(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID, if_match: str | None
) -> None:
    """Soft-deletes a project (owner); every member loses access. Deleting it again is a no-op."""
    row = await _lock(conn, project_id)
    if row.deleted_at is not None:
        if row.owner_id == user_id:
            return
        raise NotFound("No such project")
    role = await access.require_owner(conn, user_id=user_id, project_id=project_id)
    if row.is_inbox:
        raise Conflict("The Inbox cannot be deleted")
    expected = versioning.expected_version(body_version=None, if_match=if_match, required=False)
    versioning.check_version(
        expected,
        current_version=row.version,
        current=ProjectView(row, role).as_json(),
        entity="Project",
    )
    members = await repository.active_members(conn, project_id=project_id)
    deleted = await repository.mark_deleted(conn, project_id=project_id, deleted_by=user_id)
    await _record_project(
        conn,
        "project.deleted",
        project_id=project_id,
        version=deleted.version,
        actor_id=user_id,
        data=_tombstone(deleted),
    )
    for member in members:
        await _access_revoked(conn, project=deleted, user_id=member.user_id, actor_id=user_id)


async def restore_project(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> ProjectView:
    """Restores a deleted project (owner); a live one is returned unchanged."""
    row = await _lock(conn, project_id)
    if row.deleted_at is None:
        role = await access.require_owner(conn, user_id=user_id, project_id=project_id)
        return ProjectView(row, role)
    if row.owner_id != user_id:
        raise NotFound("No such project")
    restored = await repository.mark_restored(conn, project_id=project_id)
    await _record_project(
        conn,
        "project.restored",
        project_id=project_id,
        version=restored.version,
        actor_id=user_id,
        data=repository.project_data(restored),
    )
    for member in await repository.active_members(conn, project_id=project_id):
        await _access_granted(
            conn, project=restored, user_id=member.user_id, role=member.role, actor_id=user_id
        )
    return ProjectView(restored, "owner")


# ---------------------------------------------------------------- members


async def list_members(
    conn: AsyncConnection, *, user_id: uuid.UUID, project_id: uuid.UUID
) -> list[Any]:
    """The active members of a project the user sees: the owner first."""
    await access.require_reader(conn, user_id=user_id, project_id=project_id)
    return await repository.active_members(conn, project_id=project_id)


async def add_member(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    project_id: uuid.UUID,
    email: str,
    role: Role,
) -> Any:
    """Shares a project (owner) with the account of ``email``; a removed member comes back."""
    project = await _lock(conn, project_id)
    await access.require_owner(conn, user_id=actor_id, project_id=project_id)
    if project.is_inbox:
        raise Conflict("The Inbox cannot be shared")
    user_id = await repository.active_user_id_by_email(conn, email=email)
    if user_id is None:
        raise NotFound("No user has this email")
    member = await repository.add_member(conn, project_id=project_id, user_id=user_id, role=role)
    if member is None:
        raise Conflict("This user is already a member of the project")
    await _member_event(conn, "member.added", member, actor_id=actor_id)
    await _access_granted(conn, project=project, user_id=user_id, role=role, actor_id=actor_id)
    return member


async def change_member_role(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID,
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
) -> Any:
    """Changes a member's role (owner); ``owner`` transfers ownership, the former owner edits."""
    project = await _lock(conn, project_id)
    await access.require_owner(conn, user_id=actor_id, project_id=project_id)
    member = await repository.active_member(conn, project_id=project_id, user_id=user_id)
    if member is None:
        raise NotFound("No such member")
    if member.role == role:
        return member
    if member.role == "owner":
        raise Conflict("The owner's role changes only by transferring ownership to another member")
    if role != "owner":
        updated = await repository.set_member_role(
            conn, project_id=project_id, user_id=user_id, role=role
        )
        await _member_event(conn, "member.updated", updated, actor_id=actor_id)
        return updated
    former = await repository.set_member_role(
        conn, project_id=project_id, user_id=actor_id, role="editor"
    )
    new_owner = await repository.set_member_role(
        conn, project_id=project_id, user_id=user_id, role="owner"
    )
    transferred = await repository.set_owner(conn, project_id=project_id, owner_id=user_id)
    await _member_event(conn, "member.updated", former, actor_id=actor_id)
    await _member_event(conn, "member.updated", new_owner, actor_id=actor_id)
    await _record_project(
        conn,
        "project.updated",
        project_id=project_id,
        version=transferred.version,
        actor_id=actor_id,
        data=repository.project_data(transferred),
        changes={"owner_id": {"before": str(project.owner_id), "after": str(user_id)}},
    )
    return new_owner


async def remove_member(
    conn: AsyncConnection, *, actor_id: uuid.UUID, project_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Ends a membership (owner, or the member itself) and clears its assignments there."""
    project = await _lock(conn, project_id)
    role = await access.require_reader(conn, user_id=actor_id, project_id=project_id)
    if user_id != actor_id and role != "owner":
        raise Forbidden("Only the owner may remove other members")
    member = await repository.active_member(conn, project_id=project_id, user_id=user_id)
    if member is None:
        raise NotFound("No such member")
    if member.role == "owner":
        raise Conflict("The owner cannot leave: transfer ownership or delete the project")
    removed = await repository.remove_member(conn, project_id=project_id, user_id=user_id)
    await tasks.unassign_member(conn, project_id=project_id, user_id=user_id, actor_id=actor_id)
    await writer.record(
        conn,
        type="member.removed",
        entity="member",
        entity_id=user_id,
        project_id=project_id,
        version=removed.version,
        actor_id=actor_id,
        data={
            "id": str(user_id),
            "project_id": str(project_id),
            "version": removed.version,
            "deleted_at": format_utc(removed.removed_at),
        },
    )
    await _access_revoked(conn, project=project, user_id=user_id, actor_id=actor_id)


# ---------------------------------------------------------------- helpers


async def _record_project(
    conn: AsyncConnection,
    type: str,
    *,
    project_id: uuid.UUID,
    version: int,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
    changes: dict[str, Any] | None = None,
    target_user_id: uuid.UUID | None = None,
) -> None:
    """One event of a project change (the project is its own entity and scope)."""
    await writer.record(
        conn,
        type=type,
        entity="project",
        entity_id=project_id,
        project_id=project_id,
        version=version,
        actor_id=actor_id,
        data=data,
        changes=changes,
        target_user_id=target_user_id,
    )


async def _lock(conn: AsyncConnection, project_id: uuid.UUID) -> Any:
    row = await repository.lock_project(conn, project_id=project_id)
    if row is None:
        raise NotFound("No such project")
    return row


def _tombstone(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "project_id": str(row.id),
        "version": row.version,
        "deleted_at": format_utc(row.deleted_at),
    }


async def _member_event(
    conn: AsyncConnection, type_: str, member: Any, *, actor_id: uuid.UUID
) -> None:
    await writer.record(
        conn,
        type=type_,
        entity="member",
        entity_id=member.user_id,
        project_id=member.project_id,
        version=member.version,
        actor_id=actor_id,
        data=repository.member_data(member),
    )


async def _access_granted(
    conn: AsyncConnection, *, project: Any, user_id: uuid.UUID, role: str, actor_id: uuid.UUID
) -> None:
    await _record_project(
        conn,
        "project.access_granted",
        project_id=project.id,
        version=project.version,
        actor_id=actor_id,
        data={**repository.project_data(project), "role": role},
        target_user_id=user_id,
    )


async def _access_revoked(
    conn: AsyncConnection, *, project: Any, user_id: uuid.UUID, actor_id: uuid.UUID
) -> None:
    await _record_project(
        conn,
        "project.access_revoked",
        project_id=project.id,
        version=project.version,
        actor_id=actor_id,
        data={"id": str(project.id), "project_id": str(project.id), "version": project.version},
        target_user_id=user_id,
    )

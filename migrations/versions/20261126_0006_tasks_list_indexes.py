"""indexes shaped by the task list queries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Every list reads one project's live tasks in one sort order (across projects, one such scan per
visible project, merged), so each sort has a partial index on ``(project_id, <sort key>, id)``
over live tasks, read forward or backward. ``due_sort`` keeps nulls last in both directions,
which one index cannot give, hence two.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LIVE = "WHERE deleted_at IS NULL"

INDEXES = {
    "ix_tasks_live_project_created": f"ON tasks (project_id, created_at, id) {LIVE}",
    "ix_tasks_live_project_updated": f"ON tasks (project_id, updated_at, id) {LIVE}",
    "ix_tasks_live_project_due_asc": f"ON tasks (project_id, due_sort ASC NULLS LAST, id) {LIVE}",
    "ix_tasks_live_project_due_desc": (
        f"ON tasks (project_id, due_sort DESC NULLS LAST, id DESC) {LIVE}"
    ),
    "ix_tasks_live_project_priority": f"ON tasks (project_id, priority, id) {LIVE}",
    # the tag filter (any of the lower-cased tags)
    "ix_tasks_live_tag_keys": f"ON tasks USING gin (tag_keys) {LIVE}",
    # subtasks: the parent filter, subtrees on delete and move
    "ix_tasks_live_parent": f"ON tasks (parent_id) {LIVE}",
    # the assignee filter, and clearing a departing member's assignments
    "ix_tasks_live_assignee": f"ON tasks (assignee_id, project_id) {LIVE}",
    # restore: everything one deletion took
    "ix_tasks_deletion_root": "ON tasks (deletion_root_id) WHERE deletion_root_id IS NOT NULL",
    # the trash: roots of deletions per project, newest first
    "ix_tasks_trash": (
        "ON tasks (project_id, deleted_at DESC, id DESC)"
        " WHERE deleted_at IS NOT NULL AND deletion_root_id = id"
    ),
}


def upgrade() -> None:
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} {definition}")


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX {name}")

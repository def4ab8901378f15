"""tasks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE tasks (
            id uuid CONSTRAINT pk_tasks PRIMARY KEY,
            project_id uuid NOT NULL
                CONSTRAINT fk_tasks_project_id_projects REFERENCES projects (id),
            parent_id uuid CONSTRAINT fk_tasks_parent_id_tasks REFERENCES tasks (id),
            title text NOT NULL,
            description text NOT NULL DEFAULT '',
            status text NOT NULL DEFAULT 'todo'
                CONSTRAINT ck_tasks_status CHECK (status IN ('todo', 'in_progress', 'done')),
            priority smallint NOT NULL DEFAULT 0
                CONSTRAINT ck_tasks_priority CHECK (priority BETWEEN 0 AND 4),
            due_at timestamptz,
            due_date date,
            due_sort timestamptz,
            tags text[] NOT NULL DEFAULT '{}',
            tag_keys text[] NOT NULL DEFAULT '{}',
            assignee_id uuid CONSTRAINT fk_tasks_assignee_id_users REFERENCES users (id),
            completed_at timestamptz,
            created_by uuid NOT NULL CONSTRAINT fk_tasks_created_by_users REFERENCES users (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            version integer NOT NULL DEFAULT 1,
            deleted_at timestamptz,
            deleted_by uuid CONSTRAINT fk_tasks_deleted_by_users REFERENCES users (id),
            deletion_root_id uuid,
            CONSTRAINT ck_tasks_one_due CHECK (due_at IS NULL OR due_date IS NULL)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE tasks")

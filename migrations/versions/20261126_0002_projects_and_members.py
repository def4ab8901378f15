"""projects and project members

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE projects (
            id uuid CONSTRAINT pk_projects PRIMARY KEY,
            owner_id uuid NOT NULL CONSTRAINT fk_projects_owner_id_users REFERENCES users (id),
            name text NOT NULL,
            description text NOT NULL DEFAULT '',
            is_inbox boolean NOT NULL DEFAULT false,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            deleted_by uuid CONSTRAINT fk_projects_deleted_by_users REFERENCES users (id)
        )""")
    op.execute(
        "CREATE UNIQUE INDEX uq_projects_inbox_owner ON projects (owner_id)"
        " WHERE is_inbox AND deleted_at IS NULL"
    )
    op.execute("""
        CREATE TABLE project_members (
            project_id uuid NOT NULL
                CONSTRAINT fk_project_members_project_id_projects REFERENCES projects (id),
            user_id uuid NOT NULL CONSTRAINT fk_project_members_user_id_users REFERENCES users (id),
            role text NOT NULL CONSTRAINT ck_project_members_role
                CHECK (role IN ('owner', 'editor', 'viewer')),
            version integer NOT NULL DEFAULT 1,
            added_at timestamptz NOT NULL DEFAULT now(),
            removed_at timestamptz,
            CONSTRAINT pk_project_members PRIMARY KEY (project_id, user_id)
        )""")
    # "which projects may this user see": the access check on every request
    op.execute(
        "CREATE INDEX ix_project_members_active_user ON project_members (user_id, project_id)"
        " INCLUDE (role) WHERE removed_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE project_members")
    op.execute("DROP TABLE projects")

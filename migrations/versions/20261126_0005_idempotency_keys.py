"""idempotency keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE idempotency_keys (
            user_id uuid NOT NULL,
            scope text NOT NULL,
            key text NOT NULL,
            request_hash bytea NOT NULL,
            status integer,
            body jsonb,
            headers jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_idempotency_keys PRIMARY KEY (user_id, scope, key)
        )""")
    op.execute("CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")

"""users, auth sessions (refresh-token families) and refresh tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE users (
            id uuid CONSTRAINT pk_users PRIMARY KEY,
            email text NOT NULL,
            display_name text NOT NULL,
            password_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        )""")
    op.execute(
        "CREATE UNIQUE INDEX uq_users_active_email ON users (lower(email)) WHERE deleted_at IS NULL"
    )
    op.execute("""
        CREATE TABLE auth_sessions (
            id uuid CONSTRAINT pk_auth_sessions PRIMARY KEY,
            user_id uuid NOT NULL CONSTRAINT fk_auth_sessions_user_id_users REFERENCES users (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )""")
    op.execute("CREATE INDEX ix_auth_sessions_user_id ON auth_sessions (user_id)")
    op.execute("""
        CREATE TABLE refresh_tokens (
            token_hash bytea CONSTRAINT pk_refresh_tokens PRIMARY KEY,
            session_id uuid NOT NULL
                CONSTRAINT fk_refresh_tokens_session_id_auth_sessions REFERENCES auth_sessions (id),
            user_id uuid NOT NULL CONSTRAINT fk_refresh_tokens_user_id_users REFERENCES users (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            rotated_at timestamptz
        )""")
    op.execute("CREATE INDEX ix_refresh_tokens_session_id ON refresh_tokens (session_id)")


def downgrade() -> None:
    op.execute("DROP TABLE refresh_tokens")
    op.execute("DROP TABLE auth_sessions")
    op.execute("DROP TABLE users")

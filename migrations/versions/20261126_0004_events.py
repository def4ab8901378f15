"""events: the transactional outbox and history

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE events (
            id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_events PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            project_id uuid NOT NULL,
            entity text NOT NULL,
            entity_id uuid NOT NULL,
            version integer NOT NULL,
            type text NOT NULL,
            actor_id uuid,
            data jsonb NOT NULL,
            changes jsonb,
            target_user_id uuid,
            hidden_from_project_id uuid,
            ts timestamptz NOT NULL DEFAULT now()
        )""")
    # the log order every reader pages through
    op.execute("CREATE INDEX ix_events_xid_id ON events (xid, id)")
    # a task's history, newest first
    op.execute("CREATE INDEX ix_events_entity ON events (entity_id, id)")
    # one NOTIFY per writing statement, delivered on commit (duplicates fold into one)
    op.execute("""
        CREATE FUNCTION taskapi_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('taskapi_events', '');
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER trg_events_notify AFTER INSERT ON events
        FOR EACH STATEMENT EXECUTE FUNCTION taskapi_notify_events()""")


def downgrade() -> None:
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION taskapi_notify_events()")

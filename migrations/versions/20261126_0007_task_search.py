"""full-text search column and index

The text search configuration is fixed when the column is generated (a generated column needs a
constant, immutable expression): it is read here from ``TASKAPI_SEARCH_CONFIG`` (default
``english``), and the query side uses the same setting (``Settings.search_config``). Changing it on
a live deployment means running this migration down and up again with the new value.

Two partial GIN indexes over live tasks, each led by ``ARRAY[project_id]`` (built-in
``array_ops``, so no ``btree_gin`` extension is needed; the embedded PostgreSQL does not ship it):
one over ``search``, one over its title-and-tags part (``ts_filter(search, '{a,b}')``). A search
intersects "in one of the caller's projects" with "matches the words" inside the index, so it never
visits another user's rows, and it ranks title/tag matches first without touching the (many more)
description-only matches (docs/adr/0005-search-plan.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import os
import re

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def search_config() -> str:
    config = os.environ.get("TASKAPI_SEARCH_CONFIG", "english")
    if not re.fullmatch(r"[a-z_]+", config):
        raise ValueError(f"TASKAPI_SEARCH_CONFIG must match [a-z_]+, not {config!r}")
    return config


def upgrade() -> None:
    config = search_config()
    # array_to_string is only STABLE; joining text with a space is immutable in fact
    op.execute(
        "CREATE FUNCTION taskapi_tags_text(tags text[]) RETURNS text"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string(tags, ' ') $$"
    )
    op.execute(f"""
        ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('{config}'::regconfig, title), 'A')
            || setweight(to_tsvector('{config}'::regconfig, taskapi_tags_text(tags)), 'B')
            || setweight(to_tsvector('{config}'::regconfig, description), 'C')
        ) STORED""")
    op.execute(
        "CREATE INDEX ix_tasks_search_live ON tasks USING gin ((ARRAY[project_id]), search)"
        " WHERE deleted_at IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_tasks_search_head_live ON tasks"
        " USING gin ((ARRAY[project_id]), ts_filter(search, '{a,b}')) WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_tasks_search_head_live")
    op.execute("DROP INDEX ix_tasks_search_live")
    op.execute("ALTER TABLE tasks DROP COLUMN search")
    op.execute("DROP FUNCTION taskapi_tags_text(text[])")

from sqlalchemy import BigInteger, Column, DateTime, Integer, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB

from taskapi.models.base import metadata

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # xid8 pg_current_xact_id() of the writing transaction: readers order by (xid, id)
    Column("xid", BigInteger, nullable=False),
    Column("project_id", Uuid, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("actor_id", Uuid),
    Column("data", JSONB, nullable=False),
    Column("changes", JSONB),
    # only this user sees the event (project.access_granted / access_revoked)
    Column("target_user_id", Uuid),
    # members of this project do not see the event (the tombstone of a task moved to it)
    Column("hidden_from_project_id", Uuid),
    Column("ts", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""The transactional outbox: one row per change, written in the change's transaction."""

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from taskapi.models.base import metadata

tasks = Table(
    "tasks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("project_id", Uuid, ForeignKey("projects.id"), nullable=False),
    Column("parent_id", Uuid, ForeignKey("tasks.id")),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="todo"),
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    Column("due_at", DateTime(timezone=True)),
    Column("due_date", Date),
    # due_at, or due_date as 00:00Z that day: what filters and sorting use
    Column("due_sort", DateTime(timezone=True)),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    # lower-cased tags, for the case-insensitive tag filter
    Column("tag_keys", ARRAY(Text), nullable=False, server_default="{}"),
    Column("assignee_id", Uuid, ForeignKey("users.id")),
    Column("completed_at", DateTime(timezone=True)),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("deleted_at", DateTime(timezone=True)),
    Column("deleted_by", Uuid, ForeignKey("users.id")),
    # the task at the root of the deletion that took this one: restore brings back exactly that set
    Column("deletion_root_id", Uuid),
    Column("search", TSVECTOR),
    CheckConstraint("status IN ('todo', 'in_progress', 'done')", name="status"),
    CheckConstraint("priority BETWEEN 0 AND 4", name="priority"),
    CheckConstraint("due_at IS NULL OR due_date IS NULL", name="one_due"),
)

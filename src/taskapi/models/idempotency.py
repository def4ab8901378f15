from sqlalchemy import Column, DateTime, Integer, LargeBinary, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB

from taskapi.models.base import metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("scope", Text, primary_key=True),  # method + path
    Column("key", Text, primary_key=True),
    Column("request_hash", LargeBinary, nullable=False),
    Column("status", Integer),  # null while the first request is running
    Column("body", JSONB),
    Column("headers", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

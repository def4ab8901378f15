"""The database: engine and pool, the embedded PostgreSQL, migrations, and ``SessionDep``.

``SessionDep`` is the request's transaction: it commits when the endpoint returns and rolls back
when it raises. Services and repositories never commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import sqlalchemy.exc
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy import TextClause, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from taskapi.errors import Unavailable

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_LOCK_ID = 7_264_001  # pg_advisory_xact_lock key held while migrating
CONNECT_TIMEOUT_SECONDS = 3.0
POOL_TIMEOUT_SECONDS = 5.0


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` as SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def asyncpg_dsn(url: str) -> str:
    """``postgresql://…`` for a plain asyncpg connection (the listener)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _json_loads(value: str) -> Any:
    """jsonb values as Python: orjson (events are read by the hundred: a bulk's 500 are decoded
    by every process's listener); the standard library for anything orjson refuses. Our jsonb
    values are all written by orjson, so they read back the same either way."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """The request pool: up to ``2 * pool_size`` connections, opened on demand and then kept.

    No "overflow" connections: SQLAlchemy closes an overflow connection as soon as it is returned
    while ``pool_size`` others are idle, so a steady load above ``pool_size`` concurrent requests
    kept opening and closing PostgreSQL sessions (a backend start and fresh prepared statements
    each time; measured by ``bench/crud``). Same maximum as before, without the churn.
    """
    return create_async_engine(
        sqlalchemy_url(url),
        json_deserializer=_json_loads,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_recycle=1800,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": 30,
            "server_settings": {
                "application_name": "taskapi",
                # a leaked transaction must not hold back the event horizon for long
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (so the answer is 503, not 500)."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError):
        return True
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(
            cause,
            OSError
            | TimeoutError
            | asyncpg.exceptions.PostgresConnectionError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.CannotConnectNowError
            | asyncpg.exceptions.TooManyConnectionsError
            | asyncpg.exceptions.AdminShutdownError
            | asyncpg.exceptions.ConnectionDoesNotExistError,
        ):
            return True
        orig = getattr(cause, "orig", None)
        cause = orig if isinstance(orig, BaseException) else cause.__cause__
        seen += 1
    return False


# ---------------------------------------------------------------- request transaction


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    engine: AsyncEngine = request.app.state.engine
    try:
        connection = await engine.connect()
    except Exception as exc:
        if is_database_unavailable(exc):
            raise Unavailable("The database is unavailable") from exc
        raise
    try:
        async with connection.begin():
            yield connection
    finally:
        await connection.close()


SessionDep = Annotated[AsyncConnection, Depends(get_connection, scope="function")]
"""The request's transaction: committed when the endpoint returns, rolled back if it raises."""


# ---------------------------------------------------------------- migrations


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATIONS_LOCK_ID})
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Apply pending migrations (serialised across processes by an advisory lock)."""
    engine = create_async_engine(sqlalchemy_url(url), pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(url), revision)
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    engine = create_async_engine(sqlalchemy_url(url), pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, alembic_config(url), revision)
    finally:
        await engine.dispose()


def _schema_is_current(connection: Connection, config: Config) -> bool:
    head = ScriptDirectory.from_config(config).get_current_head()
    current = MigrationContext.configure(connection).get_current_revision()
    return bool(current == head)


async def schema_is_current(engine: AsyncEngine, url: str) -> bool:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_is_current, alembic_config(url))


# ---------------------------------------------------------------- embedded PostgreSQL


class EmbeddedPostgres:
    """A private PostgreSQL cluster from the ``pgserver`` package, in the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        from pgserver import postgres_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


async def wait_for_database(url: str, *, timeout: float = 30.0) -> None:
    """Wait until the database accepts connections (start-up ordering in containers)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            connection = await asyncpg.connect(asyncpg_dsn(url), timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, asyncpg.exceptions.PostgresError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        else:
            await connection.close()
            return


# ---------------------------------------------------------------- hot read paths

_ASYNCPG_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_COMPILED: dict[int, tuple[TextClause, str, tuple[str, ...]]] = {}


class DriverRow:
    """An asyncpg record with attribute access, like a SQLAlchemy row."""

    __slots__ = ("_record",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None


def _compiled(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    cached = _COMPILED.get(id(statement))
    if cached is None or cached[0] is not statement:
        compiled = statement.compile(dialect=_ASYNCPG_DIALECT)
        cached = (statement, str(compiled), tuple(compiled.positiontup or ()))
        _COMPILED[id(statement)] = cached
    return cached[1], cached[2]


async def fetch_row(
    conn: AsyncConnection, statement: TextClause, **params: Any
) -> DriverRow | None:
    """Runs a constant ``text()`` query on the driver connection, inside ``conn``'s transaction.

    For the statements of every request (the session check, a task by id): SQLAlchemy's
    per-statement overhead is a third of such a request's CPU (bench/crud). Errors are
    asyncpg's own; ``is_database_unavailable`` knows them.
    """
    if not conn.in_transaction():
        await conn.begin()  # as SQLAlchemy's autobegin would
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if adapted._transaction is None:  # SQLAlchemy sends BEGIN lazily, at the first statement
        await adapted._start_transaction()
    driver = fairy.driver_connection
    assert driver is not None
    sql, names = _compiled(statement)
    values = [params[name] for name in names]
    try:
        record = await driver.fetchrow(sql, *values)
    except asyncpg.PostgresError as exc:
        # the same exception SQLAlchemy would raise, so callers handle both paths alike
        raise sqlalchemy.exc.DBAPIError(sql, values, exc) from exc
    return None if record is None else DriverRow(record)

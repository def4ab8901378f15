"""``taskapi serve`` and ``taskapi migrate``."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import asyncpg
import typer
import uvicorn
from pydantic import ValidationError

from taskapi.config import Settings
from taskapi.db import EmbeddedPostgres, migrate, redact_url, wait_for_database
from taskapi.logging import configure_logging

cli = typer.Typer(
    help="Task API: REST + WebSocket task management over PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)

DATABASE_WAIT_SECONDS = 30.0

SETTINGS_HELP = """Settings come from the environment: TASKAPI_HOST, TASKAPI_PORT, TASKAPI_WORKERS,
TASKAPI_DATA_DIR (./.taskapi), DATABASE_URL (unset: embedded PostgreSQL), REDIS_URL,
TASKAPI_SECRET_KEY, TASKAPI_ACCESS_TOKEN_TTL (900), TASKAPI_REFRESH_TOKEN_TTL (2592000),
TASKAPI_RATE_LIMIT (100/minute), TASKAPI_AUTH_RATE_LIMIT (20/minute),
TASKAPI_LOGIN_FAILURE_LIMIT (5/15minutes), TASKAPI_CORS_ORIGINS, TASKAPI_WS_IDLE_TIMEOUT (60),
TASKAPI_WS_SWEEP_INTERVAL (60), TASKAPI_WS_AUTH_TIMEOUT (5), TASKAPI_WS_MAX_PER_USER (20),
TASKAPI_EVENT_RETENTION_DAYS (30), TASKAPI_LOG_FORMAT (console|json). Behind a load balancer,
set FORWARDED_ALLOW_IPS to its address so per-IP limits see the client addresses."""


def load_settings() -> Settings:
    """The settings from the environment; a bad value stops here with a message naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"  {_env_name(field)}: {error['msg']}")
        typer.echo("taskapi: invalid settings\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from None


def _env_name(field: str) -> str:
    if field in ("database_url", "redis_url"):
        return field.upper()
    return f"TASKAPI_{field.upper()}" if field in Settings.model_fields else field


def migrate_when_reachable(url: str) -> None:
    """Migrates once the database accepts connections (containers start in any order)."""

    async def run() -> None:
        await wait_for_database(url, timeout=DATABASE_WAIT_SECONDS)
        await migrate(url)

    try:
        asyncio.run(run())
    except (OSError, TimeoutError, asyncpg.exceptions.PostgresError) as exc:
        typer.echo(f"taskapi: cannot migrate {redact_url(url)}: {exc}", err=True)
        raise typer.Exit(1) from None


@cli.command(help="Serve the API. " + SETTINGS_HELP)
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (TASKAPI_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TASKAPI_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (TASKAPI_WORKERS)")] = None,
    apply_migrations: Annotated[
        bool, typer.Option("--migrate", help="Apply migrations to an external DATABASE_URL first")
    ] = False,
) -> None:
    for name, value in (
        ("TASKAPI_HOST", host),
        ("TASKAPI_PORT", port),
        ("TASKAPI_WORKERS", workers),
    ):
        if value is not None:
            os.environ[name] = str(value)
    settings = load_settings()
    configure_logging(settings.log_format)
    settings.resolved_secret_key()  # generate it once, before workers race for it
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.start()
        os.environ["DATABASE_URL"] = url  # the workers connect to the one cluster
        typer.echo(f"embedded PostgreSQL in {embedded.pgdata}", err=True)
        asyncio.run(migrate(url))
    elif apply_migrations:
        migrate_when_reachable(settings.database_url)
    try:
        uvicorn.run(
            "taskapi.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            ws="websockets",
            ws_per_message_deflate=False,
            ws_max_size=65536,  # API.md §8: larger messages close with 1009 at the protocol
            ws_ping_interval=None,  # the heartbeat is the client's ping and the idle sweep
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            # X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (uvicorn's setting,
            # loopback by default): behind a load balancer, per-IP limits then see the clients
            proxy_headers=True,
        )
    finally:
        if embedded is not None:
            embedded.stop()


@cli.command(name="migrate", help="Apply pending migrations to DATABASE_URL (or the embedded one).")
def migrate_command() -> None:
    settings = load_settings()
    configure_logging(settings.log_format)
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.start()
    try:
        migrate_when_reachable(url)
        typer.echo(f"migrated {redact_url(url)}")
    finally:
        if embedded is not None:
            embedded.stop()


def main() -> None:
    cli()

"""Settings (DESIGN.md's table), the generated secret, and the command line."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError
from typer.testing import CliRunner

from taskapi import cli as cli_module
from taskapi.cli import cli
from taskapi.config import Settings
from tests.fixtures.database import (
    create_database,
    drop_database,
    unique_database_name,
    with_database,
)
from tests.fixtures.sql import fetchval

LONG_SECRET = "s" * 40
ENV_NAMES = [
    "TASKAPI_HOST",
    "TASKAPI_PORT",
    "TASKAPI_WORKERS",
    "TASKAPI_DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "TASKAPI_SECRET_KEY",
    "TASKAPI_ACCESS_TOKEN_TTL",
    "TASKAPI_REFRESH_TOKEN_TTL",
    "TASKAPI_RATE_LIMIT",
    "TASKAPI_AUTH_RATE_LIMIT",
    "TASKAPI_LOGIN_FAILURE_LIMIT",
    "TASKAPI_CORS_ORIGINS",
    "TASKAPI_WS_IDLE_TIMEOUT",
    "TASKAPI_WS_SWEEP_INTERVAL",
    "TASKAPI_WS_AUTH_TIMEOUT",
    "TASKAPI_WS_MAX_PER_USER",
    "TASKAPI_EVENT_RETENTION_DAYS",
    "TASKAPI_LOG_FORMAT",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("TASKAPI_") or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    return monkeypatch


class TestDefaults:
    def test_as_in_the_design(self, clean_env: pytest.MonkeyPatch) -> None:
        settings = Settings()
        assert settings.host == "127.0.0.1"
        assert settings.port == 8000
        assert settings.workers == 1
        assert settings.data_dir == Path("./.taskapi")
        assert settings.database_url is None
        assert settings.embedded_database
        assert settings.redis_url is None
        assert settings.secret_key is None
        assert settings.access_token_ttl == 900
        assert settings.refresh_token_ttl == 2_592_000
        assert settings.rate_limit == "100/minute"
        assert settings.auth_rate_limit == "20/minute"
        assert settings.login_failure_limit == "5/15minutes"
        assert settings.cors_origins == []
        assert settings.ws_idle_timeout == 60
        assert settings.ws_sweep_interval == 60
        assert settings.ws_auth_timeout == 5
        assert settings.ws_max_per_user == 20
        assert settings.event_retention_days == 30
        assert settings.development

    def test_log_format_is_json_without_a_terminal(self, clean_env: pytest.MonkeyPatch) -> None:
        # pytest captures stderr, so it is no terminal here
        assert Settings().log_format == "json"


class TestEnvironment:
    def test_every_name_of_the_table_is_read(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        values = {
            "TASKAPI_HOST": "0.0.0.0",
            "TASKAPI_PORT": "9001",
            "TASKAPI_WORKERS": "3",
            "TASKAPI_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u:p@db:5432/tasks",
            "REDIS_URL": "redis://cache:6379/1",
            "TASKAPI_SECRET_KEY": LONG_SECRET,
            "TASKAPI_ACCESS_TOKEN_TTL": "600",
            "TASKAPI_REFRESH_TOKEN_TTL": "86400",
            "TASKAPI_RATE_LIMIT": "50/second",
            "TASKAPI_AUTH_RATE_LIMIT": "3/minute",
            "TASKAPI_LOGIN_FAILURE_LIMIT": "2/hour",
            "TASKAPI_CORS_ORIGINS": "https://a.example, https://b.example/ ,",
            "TASKAPI_WS_IDLE_TIMEOUT": "30",
            "TASKAPI_WS_SWEEP_INTERVAL": "15",
            "TASKAPI_WS_AUTH_TIMEOUT": "2.5",
            "TASKAPI_WS_MAX_PER_USER": "7",
            "TASKAPI_EVENT_RETENTION_DAYS": "9",
            "TASKAPI_LOG_FORMAT": "console",
        }
        assert sorted(values) == sorted(ENV_NAMES)
        for name, value in values.items():
            clean_env.setenv(name, value)
        settings = Settings()
        assert settings.host == "0.0.0.0"
        assert settings.port == 9001
        assert settings.workers == 3
        assert settings.data_dir == tmp_path
        assert settings.database_url == "postgresql://u:p@db:5432/tasks"
        assert not settings.embedded_database
        assert settings.redis_url == "redis://cache:6379/1"
        assert settings.secret_key == LONG_SECRET
        assert settings.access_token_ttl == 600
        assert settings.refresh_token_ttl == 86400
        assert settings.rate_limit == "50/second"
        assert settings.auth_rate_limit == "3/minute"
        assert settings.login_failure_limit == "2/hour"
        assert settings.cors_origins == ["https://a.example", "https://b.example"]
        assert settings.ws_idle_timeout == 30
        assert settings.ws_sweep_interval == 15
        assert settings.ws_auth_timeout == 2.5
        assert settings.ws_max_per_user == 7
        assert settings.event_retention_days == 9
        assert settings.log_format == "console"
        assert not settings.development

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("TASKAPI_PORT", "eighty"),
            ("TASKAPI_PORT", "70000"),
            ("TASKAPI_WORKERS", "0"),
            ("TASKAPI_RATE_LIMIT", "lots"),
            ("TASKAPI_LOGIN_FAILURE_LIMIT", "5 per fortnight"),
            ("DATABASE_URL", "mysql://db/tasks"),
            ("TASKAPI_LOG_FORMAT", "xml"),
            ("TASKAPI_WS_IDLE_TIMEOUT", "-1"),
            ("TASKAPI_CORS_ORIGINS", "*"),
        ],
    )
    def test_bad_value_is_refused(
        self, clean_env: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        clean_env.setenv(name, value)
        with pytest.raises(ValidationError):
            Settings()


class TestSecret:
    @pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-not-a-placeholder"])
    def test_placeholder_or_short_refused_outside_development(
        self, clean_env: pytest.MonkeyPatch, secret: str
    ) -> None:
        with pytest.raises(ValidationError, match="TASKAPI_SECRET_KEY"):
            Settings(host="0.0.0.0", secret_key=secret)

    def test_placeholder_allowed_in_development(self, clean_env: pytest.MonkeyPatch) -> None:
        assert Settings(host="127.0.0.1", secret_key="changeme").resolved_secret_key() == "changeme"

    def test_long_secret_is_used_as_given(self, clean_env: pytest.MonkeyPatch) -> None:
        assert Settings(host="0.0.0.0", secret_key=LONG_SECRET).resolved_secret_key() == LONG_SECRET

    def test_generated_once_with_mode_0600(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "fresh"
        first = Settings(data_dir=data_dir).resolved_secret_key()
        second = Settings(data_dir=data_dir).resolved_secret_key()
        assert first == second
        assert len(first) >= 32
        path = data_dir / "secret_key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        other = Settings(data_dir=tmp_path / "other").resolved_secret_key()
        assert other != first

    def test_concurrent_generation_agrees(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path / "raced")
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = set(pool.map(lambda _: settings.resolved_secret_key(), range(16)))
        assert len(keys) == 1
        assert [path.name for path in (tmp_path / "raced").iterdir()] == ["secret_key"]

    def test_empty_secret_file_is_refused(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / "secret_key").write_text("")
        with pytest.raises(ValueError, match="secret"):
            Settings(data_dir=tmp_path).resolved_secret_key()


class TestCommandLine:
    def test_help_lists_the_commands(self) -> None:
        result = CliRunner().invoke(cli, ["--help"])
        assert result.exit_code == 0
        assert "serve" in result.output
        assert "migrate" in result.output

    def test_serve_help_lists_the_settings(self) -> None:
        result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=200)
        assert result.exit_code == 0
        for name in ENV_NAMES:
            assert name in result.output, name
        for option in ("--host", "--port", "--workers", "--migrate"):
            assert option in result.output

    def test_bad_setting_stops_with_a_clear_message(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("TASKAPI_PORT", "eighty")
        result = CliRunner().invoke(cli, ["serve"])
        assert result.exit_code == 2
        assert "TASKAPI_PORT" in result.output
        assert "Traceback" not in result.output

    def test_serve_runs_uvicorn_as_designed(
        self, clean_env: pytest.MonkeyPatch, database_url: str, tmp_path: Path
    ) -> None:
        calls: list[dict[str, Any]] = []
        clean_env.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
        # serve writes the options into the environment for its workers: restored afterwards
        for name in ("TASKAPI_HOST", "TASKAPI_PORT", "TASKAPI_WORKERS"):
            clean_env.setenv(name, "1")
        clean_env.setenv("TASKAPI_HOST", "127.0.0.1")
        clean_env.setenv("DATABASE_URL", database_url)
        clean_env.setenv("TASKAPI_DATA_DIR", str(tmp_path))
        result = CliRunner().invoke(cli, ["serve", "--port", "9123", "--workers", "2", "--migrate"])
        assert result.exit_code == 0, result.output
        [options] = calls
        assert options["factory"] is True
        assert options["port"] == 9123
        assert options["workers"] == 2
        assert options["loop"] == "uvloop"
        assert options["http"] == "httptools"
        assert options["ws_per_message_deflate"] is False
        assert options["access_log"] is False  # ours redacts tokens
        assert options["proxy_headers"] is True  # trusted only from FORWARDED_ALLOW_IPS
        assert (tmp_path / "secret_key").exists()  # made once, before the workers start

    def test_migrate_command_migrates_an_empty_database(
        self, clean_env: pytest.MonkeyPatch, pg_server_url: str
    ) -> None:
        name = unique_database_name("taskapi_cli")
        asyncio.run(create_database(pg_server_url, name))
        url = with_database(pg_server_url, name)
        try:
            clean_env.setenv("DATABASE_URL", url)
            result = CliRunner().invoke(cli, ["migrate"])
            assert result.exit_code == 0, result.output
            assert "migrated" in result.output
            version = asyncio.run(fetchval(url, "SELECT version_num FROM alembic_version"))
            assert version
        finally:
            asyncio.run(drop_database(pg_server_url, name))

    def test_migrate_stops_clearly_when_the_database_stays_down(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        clean_env.setattr(cli_module, "DATABASE_WAIT_SECONDS", 0.5)
        clean_env.setenv("DATABASE_URL", "postgresql://postgres:pw@127.0.0.1:1/none")
        result = CliRunner().invoke(cli, ["migrate"])
        assert result.exit_code == 1
        assert "cannot migrate" in result.output
        assert "pw@" not in result.output  # the password is not printed
        assert "Traceback" not in result.output

    def test_python_dash_m_works(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "taskapi", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "serve" in result.stdout

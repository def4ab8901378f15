"""Logs never hold tokens or passwords: the access log's query string and uvicorn's WebSocket
line are redacted, and nothing of a login or refresh reaches any record."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from taskapi.logging import REDACTED, RedactTokens, redact
from tests.fixtures.factories import UserSession


class Records(logging.Handler):
    """Every record that reaches the root logger, as text (structlog's event dicts included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{record.msg!r} {record.getMessage()}" for record in self.records)

    def events(self, name: str) -> list[dict[str, object]]:
        return [
            record.msg
            for record in self.records
            if record.name == name and isinstance(record.msg, dict)
        ]


@pytest.fixture
def logs() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class TestRedact:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("token=abc.def", f"token={REDACTED}"),
            ("since=1&token=abc&x=2", f"since=1&token={REDACTED}&x=2"),
            ("/api/v1/ws?token=eyJ.x.y", f"/api/v1/ws?token={REDACTED}"),
            ("a=1&access_token=zzz", f"a=1&access_token={REDACTED}"),
            ("refresh_token=zzz", f"refresh_token={REDACTED}"),
            ("TOKEN=zzz", f"TOKEN={REDACTED}"),
            ("q=token&mytoken=1", "q=token&mytoken=1"),
        ],
    )
    def test_query_strings(self, text: str, expected: str) -> None:
        assert redact(text) == expected


class TestRedactTokensFilter:
    def test_uvicorn_websocket_line(self) -> None:
        record = logging.LogRecord(
            "uvicorn.error",
            logging.INFO,
            __file__,
            1,
            '%s - "WebSocket %s" [accepted]',
            ("127.0.0.1:5000", "/api/v1/ws?token=eyJhbGciOi.secret.sig&since=abc"),
            None,
        )
        assert RedactTokens().filter(record)
        message = record.getMessage()
        assert "eyJhbGciOi" not in message
        assert message == (
            f'127.0.0.1:5000 - "WebSocket /api/v1/ws?token={REDACTED}&since=abc" [accepted]'
        )

    def test_is_installed_on_uvicorn_loggers(self, app: FastAPI) -> None:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            assert any(isinstance(f, RedactTokens) for f in logging.getLogger(name).filters)

    def test_uvicorn_line_reaching_the_root_is_redacted(self, app: FastAPI, logs: Records) -> None:
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/api/v1/ws?token=leaky-secret"
        )
        assert "leaky-secret" not in logs.text()
        assert REDACTED in logs.text()


class TestAccessLog:
    async def test_logs_the_request_with_the_token_redacted(
        self, client: httpx.AsyncClient, logs: Records
    ) -> None:
        response = await client.get("/health", params={"token": "query-secret-1", "a": "b"})
        assert response.status_code == 200
        events = logs.events("taskapi.access")
        assert events
        event = events[-1]
        assert event["path"] == "/health"
        assert event["status"] == 200
        assert event["query"] == f"token={REDACTED}&a=b"
        assert "query-secret-1" not in logs.text()

    async def test_logs_the_status_of_a_problem(
        self, client: httpx.AsyncClient, logs: Records
    ) -> None:
        await client.get("/api/v1/users/me")
        assert logs.events("taskapi.access")[-1]["status"] == 401


class TestNoSecretsInLogs:
    async def test_login_and_refresh_leave_no_password_or_token(
        self, client: httpx.AsyncClient, user: UserSession, logs: Records
    ) -> None:
        login = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        pair = login.json()
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "wrong-password-x"}
        )
        assert wrong.status_code == 401
        text = logs.text()
        assert logs.records
        for secret in (
            user.password,
            "wrong-password-x",
            pair["access_token"],
            pair["refresh_token"],
            refreshed.json()["access_token"],
            refreshed.json()["refresh_token"],
        ):
            assert secret not in text

    async def test_validation_errors_do_not_echo_the_password(
        self, client: httpx.AsyncClient, logs: Records
    ) -> None:
        response = await client.post(
            "/api/v1/auth/register", json={"email": "bad", "password": "short-pw-secret"[:7]}
        )
        assert response.status_code == 422
        assert "short-p" not in response.text
        assert "short-p" not in logs.text()

"""Pure ASGI middleware: request id, security headers, body limits, content types, access log."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskapi.errors import AppError, PayloadTooLarge, UnsupportedMediaType
from taskapi.logging import redact
from taskapi.problems import problem_response, unexpected_error_response

MAX_BODY_BYTES = 1024 * 1024
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_JSON_TYPES = {"application/json"}
_PATCH_TYPES = {"application/json", "application/merge-patch+json"}

access_log = structlog.get_logger("taskapi.access")


class RequestContextMiddleware:
    """Gives every request an id, checks its body, stamps common headers and logs the access."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        path: str = scope["path"]
        status_holder = [0]
        extra_headers = [
            (b"x-request-id", request_id.encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if path.startswith("/api/"):
            extra_headers.append((b"cache-control", b"no-store"))
        replaced = {name for name, _ in extra_headers}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in replaced
                ]
                headers.extend(extra_headers)
                headers.extend(_rate_limit_headers(scope))
                message["headers"] = headers
            await send(message)

        try:
            body_receive = await _checked_body(scope, receive)
        except AppError as error:
            response = problem_response(error, path=path, request_id=request_id)
            await response(scope, receive, send_with_headers)
        else:
            try:
                await self.app(scope, body_receive, send_with_headers)
            except Exception as exc:
                # answered here rather than by Starlette's outermost handler, so the problem
                # carries every header and the access log its status, and nothing is re-raised
                # (one log line per failure, none per request while the database is down)
                if status_holder[0]:
                    raise  # the response has started: nothing sane can be sent any more
                response = unexpected_error_response(exc, path=path, request_id=request_id)
                await response(scope, receive, send_with_headers)
        finally:
            access_log.info(
                "request",
                method=scope["method"],
                path=path,
                query=redact(scope.get("query_string", b"").decode("latin-1")),
                status=status_holder[0],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    info: Any = (scope.get("state") or {}).get("rate_limit")
    if info is None:
        return []
    limit, remaining, reset = info
    return [
        (b"ratelimit-limit", str(limit).encode()),
        (b"ratelimit-remaining", str(remaining).encode()),
        (b"ratelimit-reset", str(reset).encode()),
    ]


async def _checked_body(scope: Scope, receive: Receive) -> Receive:
    """Reads the body (at most 1 MiB, chunked or not) and checks its media type; replays it."""
    if scope["method"] not in _BODY_METHODS:
        return receive
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if body:
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        allowed = _PATCH_TYPES if scope["method"] == "PATCH" else _JSON_TYPES
        if content_type not in allowed:
            raise UnsupportedMediaType(
                f"Content-Type {content_type or '(none)'} is not supported; send application/json"
            )
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

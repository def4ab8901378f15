"""Rendering of ``AppError`` as RFC 9457 problem details, and the exception handlers."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from taskapi.db import is_database_unavailable
from taskapi.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    Forbidden,
    Internal,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

log = structlog.get_logger("taskapi.errors")

SECURITY_HEADERS = {"x-content-type-options": "nosniff"}


def request_id_of(scope: Any) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def problem_response(error: AppError, *, path: str | None, request_id: str | None) -> Response:
    headers = dict(error.headers)
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if path is not None and path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
    body = orjson.dumps(error.problem(instance=path, request_id=request_id))
    return Response(
        body, status_code=error.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def _render(request: Request, error: AppError) -> Response:
    return problem_response(error, path=request.url.path, request_id=request_id_of(request.scope))


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        errors.append(
            {
                "loc": [
                    part if isinstance(part, int | str) else str(part) for part in error["loc"]
                ],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return errors


async def _on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return _render(request, exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(error["type"] == "json_invalid" for error in errors):
        return _render(request, MalformedRequest("The request body is not valid JSON"))
    if any(error["loc"][:1] == ["path"] for error in errors):
        # an id in the path that cannot exist is simply not found (API.md §1), whatever the body
        return _render(request, NotFound("No such resource"))
    return _render(request, ValidationFailed(errors))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return _render(request, NotFound(f"No route for {request.url.path}"))
    if exc.status_code == 405:
        allow = _allowed_methods(request) or (exc.headers or {}).get("Allow")
        error = MethodNotAllowed(f"{request.method} is not allowed here")
        if allow:
            error.headers["Allow"] = allow
        return _render(request, error)
    kind = _KIND_BY_STATUS.get(exc.status_code)
    if kind is None:
        log.warning("unmapped_http_exception", status=exc.status_code)
        return _render(request, Internal("An unexpected error occurred; quote the request id"))
    return _render(request, kind(str(exc.detail)))


def _allowed_methods(request: Request) -> str:
    """Every method the path takes (Starlette names only the first matching route's).

    A literal path wins over a template that also matches it (``/tasks/bulk``, not
    ``/tasks/{task_id}``).
    """
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.scope["path"]):
            methods = by_template.setdefault(str(getattr(route, "path_format", "")), set())
            methods.update(getattr(route, "methods", None) or ())
    if not by_template:
        return ""
    most_specific = min(by_template, key=lambda template: template.count("{"))
    return ", ".join(sorted(by_template[most_specific]))


# the problem kind Starlette's own HTTPExceptions map to (e.g. 400 for an unparsable body)
_KIND_BY_STATUS: dict[int, type[AppError]] = {
    400: MalformedRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    503: Unavailable,
}


def unexpected_error_response(
    exc: Exception, *, path: str | None, request_id: str | None
) -> Response:
    """``503 unavailable`` when the database is unreachable, else a logged ``500 internal``."""
    if is_database_unavailable(exc):
        log.warning("database_unavailable", error=type(exc).__name__, path=path)
        error: AppError = Unavailable("The database is unavailable; retry shortly")
    else:
        log.error("unhandled_error", path=path, exc_info=exc)
        error = Internal("An unexpected error occurred; quote the request id")
    return problem_response(error, path=path, request_id=request_id)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(
        exc, path=request.url.path, request_id=request_id_of(request.scope)
    )


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)

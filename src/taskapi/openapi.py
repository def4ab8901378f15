"""The OpenAPI description as the API really answers: problem+json errors and the security schemes.

FastAPI documents only the success answer and a ``422`` in its own error shape. Every error here
is an RFC 9457 problem (``taskapi.problems``), and the error paths are the same for every route
of a kind, so they are added here from what each route is: authenticated (it depends on
``current_principal``), with a body, with path or query parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi

from taskapi.auth.dependencies import current_principal, limit_by_client_ip
from taskapi.errors import PROBLEM_CONTENT_TYPE

UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
VALIDATION_PROBLEM_REF = {"$ref": "#/components/schemas/ValidationProblem"}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "description": "RFC 9457 problem details; `GET {type}` describes the kind.",
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "examples": ["/problems/not-found"]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": "A `validation` problem lists each error with its location.",
        "allOf": [
            PROBLEM_REF,
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["loc", "msg", "type"],
                            "properties": {
                                "loc": {
                                    "type": "array",
                                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                },
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                        },
                    }
                },
            },
        ],
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": "access_token",
        "description": "Set by login; unsafe methods also send X-CSRF-Token.",
    },
}

DESCRIPTIONS = {
    400: "Malformed JSON (`malformed-request`) or a bad cursor (`invalid-cursor`)",
    401: "No valid access token, or the session has ended (`unauthenticated`)",
    403: "Cookie authentication without the CSRF header (`csrf-failed`), or a role too low "
    "(`forbidden`)",
    404: "No such resource, or one you may not see (`not-found`)",
    413: "The body is over 1 MiB (`payload-too-large`)",
    415: "The body is not JSON (`unsupported-media-type`)",
    422: "The request does not match the schema (`validation`)",
    429: "A rate limit was reached; see Retry-After (`rate-limited`)",
    500: "An unexpected error; quote the request id (`internal`)",
    503: "The database is unavailable; see Retry-After (`unavailable`)",
}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(dependency.call is call for dependency in _dependencies(dependant))


def _documented_routes(app: FastAPI) -> Iterator[tuple[str, str, Dependant]]:
    """(path, method, dependant) of every operation in the description, included routers too."""
    # FastAPI >= 0.16x keeps included routers lazily; iter_route_contexts flattens them
    iterate = getattr(routing, "iter_route_contexts", None)
    for route in iterate(app.routes) if iterate is not None else app.routes:
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or not getattr(route, "include_in_schema", False):
            continue
        for method in getattr(route, "methods", None) or ():
            yield str(getattr(route, "path_format", "")), method.lower(), dependant


def _problem_statuses(dependant: Dependant, method: str, operation: dict[str, Any]) -> set[int]:
    parameters = operation.get("parameters", [])
    statuses = {500}
    authenticated = _depends_on(dependant, current_principal)
    if authenticated:
        statuses |= {401, 429, 503}
        if method in UNSAFE_METHODS:
            statuses.add(403)
    if _depends_on(dependant, limit_by_client_ip):
        statuses |= {429, 503}
    if method in UNSAFE_METHODS:
        statuses |= {413, 415}
    if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
        statuses |= {400, 422}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    return statuses


def _as_problem(status: int, response: dict[str, Any]) -> dict[str, Any]:
    schema = VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF
    existing = [
        media.get("schema")
        for media in (response.get("content") or {}).values()
        if isinstance(media, dict)
    ]
    for candidate in existing:
        # a route that documents its own error model (e.g. with `current`) keeps it
        if candidate and candidate.get("$ref") != "#/components/schemas/HTTPValidationError":
            schema = candidate
            break
    description = response.get("description") or DESCRIPTIONS.get(status, "Error")
    if description == "Validation Error":
        description = DESCRIPTIONS[422]
    return {
        **response,
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
    }


def describe_problems(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the problem+json error answers and the security of every operation to ``schema``."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(PROBLEM_SCHEMAS)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    paths = schema.get("paths", {})
    for path, method, dependant in _documented_routes(app):
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        if _depends_on(dependant, current_principal):
            operation["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
        responses = operation.setdefault("responses", {})
        for status in _problem_statuses(dependant, method, operation):
            responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
        for code, response in list(responses.items()):
            if code.isdigit() and int(code) >= 400:
                responses[code] = _as_problem(int(code), response)
        operation["responses"] = dict(sorted(responses.items()))
    schemas = components["schemas"]
    others = {name: value for name, value in schemas.items() if "ValidationError" not in name}
    if "/HTTPValidationError" not in repr((paths, others)):
        # FastAPI's own 422 shape: no answer uses it any more
        schemas.pop("HTTPValidationError", None)
        if "/ValidationError" not in repr((paths, others)):
            schemas.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Makes ``app.openapi()`` build (once) the description with the problem answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = describe_problems(app, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Domain errors and their RFC 9457 rendering.

Every error the API answers with is an ``AppError``; one handler renders it as
``application/problem+json``. The tree::

    AppError
    ├── MalformedRequest        400 malformed-request
    ├── InvalidCursor           400 invalid-cursor
    ├── Unauthenticated         401 unauthenticated
    ├── CsrfFailed              403 csrf-failed
    ├── Forbidden               403 forbidden
    ├── NotFound                404 not-found
    ├── MethodNotAllowed        405 method-not-allowed
    ├── Conflict                409 conflict
    │   ├── EmailTaken          409 email-taken
    │   ├── VersionConflict     409 version-conflict (carries the current entity)
    │   ├── IdempotencyKeyInFlight 409 idempotency-key-in-flight
    │   └── BulkRejected        409 bulk-rejected (carries per-operation results)
    ├── CursorExpired           410 cursor-expired
    ├── PreconditionFailed      412 precondition-failed (carries the current entity)
    ├── PayloadTooLarge         413 payload-too-large
    ├── UnsupportedMediaType    415 unsupported-media-type
    ├── ValidationFailed        422 validation (carries ``errors``)
    │   └── IdempotencyKeyReused 422 idempotency-key-reused
    ├── PreconditionRequired    428 precondition-required
    ├── RateLimited             429 rate-limited
    ├── Internal                500 internal
    └── Unavailable             503 unavailable
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"


class AppError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal server error"
    description: ClassVar[str] = (
        "The server failed unexpectedly; the request id helps find out why."
    )

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def problem(
        self, *, instance: str | None = None, request_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.type}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        if request_id is not None:
            body["request_id"] = request_id
        body.update(self.extra)
        return body


class MalformedRequest(AppError):
    status = 400
    type = "malformed-request"
    title = "Malformed request"
    description = "The request body is not valid JSON, or the request cannot be parsed."


class InvalidCursor(AppError):
    status = 400
    type = "invalid-cursor"
    title = "Invalid cursor"
    description = "The cursor is malformed, tampered with, or was issued for other filters or sort."


class Unauthenticated(AppError):
    status = 401
    type = "unauthenticated"
    title = "Authentication required"
    description = "A valid access token is needed: a Bearer header, or the access cookie."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class CsrfFailed(AppError):
    status = 403
    type = "csrf-failed"
    title = "CSRF check failed"
    description = (
        "Cookie-authenticated unsafe requests must echo the csrf_token cookie in X-CSRF-Token."
    )


class Forbidden(AppError):
    status = 403
    type = "forbidden"
    title = "Forbidden"
    description = "You can see this resource, but your role does not allow this action."


class NotFound(AppError):
    status = 404
    type = "not-found"
    title = "Not found"
    description = "No such resource, or you may not see it."


class MethodNotAllowed(AppError):
    status = 405
    type = "method-not-allowed"
    title = "Method not allowed"
    description = "This path does not accept that HTTP method."


class Conflict(AppError):
    status = 409
    type = "conflict"
    title = "Conflict"
    description = "The request conflicts with the resource's current state."


class EmailTaken(Conflict):
    type = "email-taken"
    title = "Email already registered"
    description = "An active account already uses this email address (compared case-insensitively)."


class VersionConflict(Conflict):
    type = "version-conflict"
    title = "Version conflict"
    description = "The version you sent is stale; `current` holds the entity as it is now."


class IdempotencyKeyInFlight(Conflict):
    type = "idempotency-key-in-flight"
    title = "Idempotency key in flight"
    description = "A request with this Idempotency-Key is still running; retry shortly."


class BulkRejected(Conflict):
    type = "bulk-rejected"
    title = "Bulk operation rejected"
    description = "An atomic bulk request had failing operations; nothing was applied."


class CursorExpired(AppError):
    status = 410
    type = "cursor-expired"
    title = "Cursor expired"
    description = "The cursor is older than the event retention; resync from a snapshot."


class PreconditionFailed(AppError):
    status = 412
    type = "precondition-failed"
    title = "Precondition failed"
    description = "If-Match names a stale version; `current` holds the entity as it is now."


class PayloadTooLarge(AppError):
    status = 413
    type = "payload-too-large"
    title = "Payload too large"
    description = "Request bodies are limited to 1 MiB."


class UnsupportedMediaType(AppError):
    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"
    description = "Send bodies as application/json (application/merge-patch+json on PATCH)."


class ValidationFailed(AppError):
    status = 422
    type = "validation"
    title = "Validation failed"
    description = (
        "The request does not match the schema; `errors` lists each problem with its location."
    )

    def __init__(self, errors: Sequence[Mapping[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail or "The request is not valid", extra={"errors": list(errors)})

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str, type_: str = "value_error") -> ValidationFailed:
        """A validation error for one field."""
        return cls([{"loc": list(loc), "msg": msg, "type": type_}], detail=msg)


class IdempotencyKeyReused(AppError):
    status = 422
    type = "idempotency-key-reused"
    title = "Idempotency key reused"
    description = "This Idempotency-Key was already used with a different request body."


class PreconditionRequired(AppError):
    status = 428
    type = "precondition-required"
    title = "Precondition required"
    description = "State the version you read: `version` in the body or an If-Match header."


class RateLimited(AppError):
    status = 429
    type = "rate-limited"
    title = "Too many requests"
    description = "A rate limit was reached; retry after the number of seconds in Retry-After."


class Internal(AppError):
    pass


class Unavailable(AppError):
    status = 503
    type = "unavailable"
    title = "Service unavailable"
    description = "The database cannot be reached right now; retry after Retry-After seconds."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "5"})
        super().__init__(detail, **kwargs)


def all_problem_types() -> dict[str, type[AppError]]:
    """Every problem kind by its ``type`` slug, for the ``/problems/*`` pages."""
    found: dict[str, type[AppError]] = {}
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.type, cls)
        pending.extend(cls.__subclasses__())
    return found

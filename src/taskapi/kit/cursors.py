"""Opaque, tamper-evident cursors: a JSON payload, base64url-encoded, with a truncated HMAC.

Clients cannot forge or edit a cursor; a cursor for other filters is detected by the caller
comparing the payload's ``scope`` with the current request's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from taskapi.errors import InvalidCursor

_SIGNATURE_BYTES = 12


class CursorCodec:
    """Encodes and verifies cursors with a server secret."""

    def __init__(self, secret: str, *, purpose: str) -> None:
        self._key = hashlib.sha256(f"cursor:{purpose}:{secret}".encode()).digest()

    def encode(self, payload: Any) -> str:
        body = orjson.dumps(payload)
        signature = hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return _b64encode(body + signature)

    def decode(self, token: str) -> Any:
        """The payload of a cursor this codec issued; anything else is ``InvalidCursor``."""
        try:
            raw = _b64decode(token)
        except ValueError:
            raise InvalidCursor("The cursor is malformed") from None
        body, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if len(raw) <= _SIGNATURE_BYTES or not hmac.compare_digest(signature, expected):
            raise InvalidCursor("The cursor is malformed or was tampered with")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:  # pragma: no cover - signed bodies are always JSON
            raise InvalidCursor("The cursor is malformed") from None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes:
    if not token or len(token) > 2048 or not token.isascii():
        raise ValueError("bad cursor")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("bad cursor") from exc

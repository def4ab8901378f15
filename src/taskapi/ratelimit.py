"""Rate limits with the ``limits`` library: in memory, or in Redis when ``REDIS_URL`` is set.

Windows are fixed and aligned to the clock (the window number is part of the key), so one
``INCR`` answers both "allowed?" and the ``RateLimit-*`` headers: a single round trip to the
store per request, and every process agrees on when a window resets. When the shared store
cannot be reached the answer is ``503 unavailable``, like a database outage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError

from taskapi.config import Settings
from taskapi.errors import RateLimited, Unavailable

STORE_TIMEOUT_SECONDS = 2.0

log = structlog.get_logger(__name__)


def _store_unavailable(exc: StorageError) -> Unavailable:
    # fail closed: without the store, limits (failed logins included) cannot be enforced
    log.warning("rate_limit_store_unavailable", error=type(exc.storage_error).__name__)
    return Unavailable("The rate-limit store is unavailable; retry shortly")


@dataclass(frozen=True, slots=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter:
    """The per-user, per-IP and per-account limits of API.md §1."""

    def __init__(self, settings: Settings) -> None:
        self.storage: Storage
        if settings.redis_url:
            url = settings.redis_url
            if not url.startswith("async+"):
                url = "async+" + url
            self.storage = RedisStorage(
                url,
                implementation="redispy",
                key_prefix="taskapi",
                wrap_exceptions=True,
                # an unreachable store must not hold requests for the OS's connect timeout
                socket_connect_timeout=STORE_TIMEOUT_SECONDS,
                socket_timeout=STORE_TIMEOUT_SECONDS,
            )
        else:
            self.storage = MemoryStorage()
        self.per_user = parse(settings.rate_limit)
        self.per_ip = parse(settings.auth_rate_limit)
        self.login_failures = parse(settings.login_failure_limit)

    async def aclose(self) -> None:
        """Closes the connections to the shared store (at the end of the app's lifespan)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    @staticmethod
    def _window(item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[str, int, int]:
        """The key of the current window, the window length and the seconds until it resets."""
        length = item.get_expiry()
        now = time.time()
        number = int(now // length)
        reset = max(1, math.ceil((number + 1) * length - now))
        return item.key_for(*identifiers, str(number)), length, reset

    async def hit(self, item: RateLimitItem, *identifiers: str) -> Usage:
        """Counts one request; raises ``RateLimited`` (with ``Retry-After``) over the limit."""
        key, length, reset = self._window(item, identifiers)
        try:
            count = await self.storage.incr(key, length)
        except StorageError as exc:
            raise _store_unavailable(exc) from exc
        usage = Usage(limit=item.amount, remaining=max(0, item.amount - count), reset_seconds=reset)
        if count > item.amount:
            raise RateLimited(
                f"Rate limit of {item} reached; retry in {reset} s",
                headers={"Retry-After": str(reset), **usage.headers()},
            )
        return usage

    async def check(self, item: RateLimitItem, *identifiers: str) -> None:
        """Raises ``RateLimited`` if the limit is already used up, without counting."""
        key, _, reset = self._window(item, identifiers)
        try:
            used = await self.storage.get(key)
        except StorageError as exc:
            raise _store_unavailable(exc) from exc
        if used >= item.amount:
            raise RateLimited(
                f"Too many failed attempts; try again in {reset} s",
                headers={"Retry-After": str(reset)},
            )

"""Rate limits with the ``limits`` library: in memory, or in Redis when ``REDIS_URL`` is set.

Windows are fixed and aligned to the clock (the window number is part of the key), so one
``INCR`` answers both "allowed?" and the ``RateLimit-*`` headers: a single round trip to the
store per request, and every process agrees on when a window resets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from taskapi.config import Settings
from taskapi.errors import RateLimited


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
            self.storage = RedisStorage(url, implementation="redispy", key_prefix="taskapi")
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
        count = await self.storage.incr(key, length)
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
        if await self.storage.get(key) >= item.amount:
            raise RateLimited(
                f"Too many failed attempts; try again in {reset} s",
                headers={"Retry-After": str(reset)},
            )

"""Rate limits with the ``limits`` library: in memory, or in Redis when ``REDIS_URL`` is set."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from taskapi.config import Settings
from taskapi.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int


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
        self._limiter = FixedWindowRateLimiter(self.storage)
        self.per_user = parse(settings.rate_limit)
        self.per_ip = parse(settings.auth_rate_limit)
        self.login_failures = parse(settings.login_failure_limit)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> Usage:
        """Counts one request; raises ``RateLimited`` (with ``Retry-After``) over the limit."""
        allowed = await self._limiter.hit(item, *identifiers)
        usage = await self.usage(item, *identifiers)
        if not allowed:
            raise RateLimited(
                f"Rate limit of {item} reached",
                headers={
                    "Retry-After": str(max(usage.reset_seconds, 1)),
                    "RateLimit-Limit": str(usage.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(usage.reset_seconds),
                },
            )
        return usage

    async def usage(self, item: RateLimitItem, *identifiers: str) -> Usage:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Usage(limit=item.amount, remaining=max(0, stats.remaining), reset_seconds=reset)

    async def check(self, item: RateLimitItem, *identifiers: str) -> None:
        """Raises ``RateLimited`` if the limit is already used up, without counting."""
        if not await self._limiter.test(item, *identifiers):
            usage = await self.usage(item, *identifiers)
            raise RateLimited(
                "Too many failed attempts; try again later",
                headers={"Retry-After": str(max(usage.reset_seconds, 1))},
            )

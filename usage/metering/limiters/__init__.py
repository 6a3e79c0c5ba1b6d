"""Per-minute rate limits: calendar minutes in UTC, counted per key and for the whole plan.

A call is admitted only if both its key's window and the plan's window have room; then
both counts move together. Two backends give the same answers:

- the database (default): one upsert per window that increments only below the limit, run
  inside the caller's transaction. SQLite's IMMEDIATE transactions serialise writers and
  PostgreSQL's row lock makes the second writer re-check the WHERE clause after the first
  commits, so concurrent workers never admit one call too many, nor refuse one too few.
- Redis (``REDIS_URL``): one Lua script checks and increments both windows atomically and
  gives each counter its expiry in the same step, so no counter outlives its minute.

Calls refused by this limiter do not count against the window; every other call does,
including ones later refused for credits or failed upstream (CoinGecko counts 4xx and 5xx).
"""

from datetime import datetime
from functools import cache

from django.conf import settings

from usage.metering.limiters.base import UNLIMITED, MinuteDecision

__all__ = ["UNLIMITED", "MinuteDecision", "calls_this_minute", "get_limiter"]


@cache
def get_limiter():
    """The configured limiter, one per process (Redis keeps its own connection pool)."""
    if settings.REDIS_URL:
        from usage.metering.limiters.redis import RedisLimiter

        return RedisLimiter(settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
    from usage.metering.limiters.database import DatabaseLimiter

    return DatabaseLimiter()


def calls_this_minute(*, key_refs: list[int], now: datetime) -> dict[int, int]:
    """Calls admitted in the current minute for each key ref (PLAN_REF: the whole plan)."""
    limiter = get_limiter()
    return {ref: limiter.current(key_ref=ref, now=now) for ref in key_refs}

"""Per-minute rate limits: calendar minutes in UTC, counted per key and for the whole plan.

A call is admitted only if both its key's window and the plan's window have room; then
both counts move together. Two backends give the same answers:

- the database (default): one upsert per window that increments only below the limit, run
  inside the caller's transaction. SQLite's IMMEDIATE transactions serialise writers and
  PostgreSQL's row lock makes the second writer re-check the WHERE clause after the first
  commits, so concurrent workers never admit one call too many, nor refuse one too few.
- Redis (``REDIS_URL``): one Lua script checks and increments both windows atomically and
  gives each counter its expiry in the same step, so no counter outlives its minute.
  While Redis is away the database answers (``fallback.py``, ``circuit.py``).

Calls refused by this limiter do not count against the window; every other call does,
including ones later refused for credits or failed upstream (CoinGecko counts 4xx and 5xx).
"""

import threading
from datetime import datetime

from django.conf import settings

from usage.metering.limiters.base import UNLIMITED, MinuteDecision

__all__ = [
    "UNLIMITED",
    "MinuteDecision",
    "calls_this_minute",
    "get_limiter",
    "limiter_for_call",
    "redis_away",
]


class _OnePerProcess:
    """``get_limiter()``: the configured limiter, built once per process even when a new
    worker's threads all ask at once (``functools.cache`` may build it twice, and two
    circuits would each warn). Redis keeps its own connection pool, and each process its
    own circuit: a worker that finds Redis away stops trying it on its own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._limiter = None

    def __call__(self):
        limiter = self._limiter
        if limiter is None:
            with self._lock:
                if self._limiter is None:
                    self._limiter = _configured_limiter()
                limiter = self._limiter
        return limiter

    def cache_clear(self) -> None:
        """Forget the limiter (tests that change its settings)."""
        with self._lock:
            self._limiter = None


def _configured_limiter():
    from usage.metering.limiters.database import DatabaseLimiter

    if not settings.REDIS_URL:
        return DatabaseLimiter()
    from usage.metering.limiters.circuit import Circuit
    from usage.metering.limiters.fallback import FallbackLimiter
    from usage.metering.limiters.redis import RedisLimiter

    return FallbackLimiter(
        RedisLimiter(
            settings.REDIS_URL, prefix=settings.REDIS_PREFIX, timeout=settings.REDIS_TIMEOUT
        ),
        DatabaseLimiter(),
        Circuit(retry_interval=settings.REDIS_RETRY_INTERVAL),
    )


get_limiter = _OnePerProcess()


def limiter_for_call():
    """The limiter one proxied call uses from start to end: its ``in_transaction`` and
    ``admit`` agree for the whole call even if Redis goes away meanwhile."""
    limiter = get_limiter()
    return limiter.for_call() if hasattr(limiter, "for_call") else limiter


def redis_away() -> bool:
    """Redis is configured but not answering: the windows come from the database."""
    return getattr(get_limiter(), "redis_away", False)


def calls_this_minute(*, key_refs: list[int], now: datetime) -> dict[int, int]:
    """Calls admitted in the current minute for each key ref (PLAN_REF: the whole plan)."""
    limiter = get_limiter()
    return {ref: limiter.current(key_ref=ref, now=now) for ref in key_refs}

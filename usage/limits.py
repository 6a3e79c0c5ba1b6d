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

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings

from usage import db, windows

# A key with no limit of its own is still counted (for "calls in the last minute").
UNLIMITED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class MinuteDecision:
    admitted: bool
    limit: int
    remaining: int
    reset: datetime
    retry_after: int


def _decision(admitted, key_limit, plan_limit, key_calls, plan_calls, now) -> MinuteDecision:
    limit = min(key_limit, plan_limit)
    remaining = 0 if not admitted else max(0, min(key_limit - key_calls, plan_limit - plan_calls))
    return MinuteDecision(
        admitted=admitted,
        limit=limit,
        remaining=remaining,
        reset=windows.next_minute(now),
        retry_after=windows.seconds_to_next_minute(now),
    )


class DatabaseLimiter:
    """Minute windows in the ``usage_minuteusage`` table. Call inside a transaction."""

    # Increment below the limit, or insert the window's first call; no row back means full.
    UPSERT = (
        "INSERT INTO usage_minuteusage (key_ref, minute, calls) VALUES (%s, %s, 1) "
        "ON CONFLICT (key_ref, minute) DO UPDATE SET calls = usage_minuteusage.calls + 1 "
        "WHERE usage_minuteusage.calls < %s RETURNING calls"
    )
    UNDO = "UPDATE usage_minuteusage SET calls = calls - 1 WHERE key_ref = %s AND minute = %s"
    SWEEP = "DELETE FROM usage_minuteusage WHERE minute < %s"
    COUNT = "SELECT calls FROM usage_minuteusage WHERE key_ref = %s AND minute = %s"

    in_transaction = True

    def admit(self, *, cur, key_ref, key_limit, plan_ref, plan_limit, now: datetime):
        """Run inside the caller's write transaction, on its cursor."""
        minute = windows.minute_index(now)
        db.run(cur, self.UPSERT, [key_ref, minute, key_limit])
        row = cur.fetchone()
        if row is None:
            return _decision(False, key_limit, plan_limit, key_limit, 0, now)
        key_calls = row[0]
        db.run(cur, self.UPSERT, [plan_ref, minute, plan_limit])
        plan_row = cur.fetchone()
        if plan_row is None:
            # Still inside the transaction that holds the key's row: nobody saw it.
            db.run(cur, self.UNDO, [key_ref, minute])
            return _decision(False, key_limit, plan_limit, key_calls - 1, plan_limit, now)
        if key_calls == 1:
            # First call of this key's minute: sweep windows that can no longer matter.
            db.run(cur, self.SWEEP, [minute - 2])
        return _decision(True, key_limit, plan_limit, key_calls, plan_row[0], now)

    def current(self, *, key_ref: int, now: datetime) -> int:
        row = db.fetch_one(self.COUNT, [key_ref, windows.minute_index(now)])
        return row[0] if row else 0


class RedisLimiter:
    """Minute windows as Redis counters that expire with their minute."""

    # KEYS: key window, plan window. ARGV: key limit, plan limit, seconds to keep.
    SCRIPT = """
local k = tonumber(redis.call('GET', KEYS[1]) or '0')
local p = tonumber(redis.call('GET', KEYS[2]) or '0')
if k >= tonumber(ARGV[1]) or p >= tonumber(ARGV[2]) then
  return {0, k, p}
end
k = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
p = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, k, p}
"""
    in_transaction = False

    def __init__(self, url: str, prefix: str = "tollgate"):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(self.SCRIPT)
        self.prefix = prefix

    def _key(self, ref: int, minute: int) -> str:
        return f"{self.prefix}:rpm:{ref}:{minute}"

    def admit(self, *, key_ref: int, key_limit: int, plan_ref: int, plan_limit: int, now: datetime):
        minute = windows.minute_index(now)
        # Kept two minutes past its window, so a slow clock on one worker cannot reopen it.
        admitted, key_calls, plan_calls = self.script(
            keys=[self._key(key_ref, minute), self._key(plan_ref, minute)],
            args=[key_limit, plan_limit, 180],
        )
        return _decision(bool(admitted), key_limit, plan_limit, key_calls, plan_calls, now)

    def current(self, *, key_ref: int, now: datetime) -> int:
        value = self.client.get(self._key(key_ref, windows.minute_index(now)))
        return int(value or 0)


@cache
def get_limiter():
    """The configured limiter, one per process (Redis keeps its own connection pool)."""
    if settings.REDIS_URL:
        return RedisLimiter(settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
    return DatabaseLimiter()


def calls_this_minute(*, key_refs: list[int], now: datetime) -> dict[int, int]:
    """Calls admitted in the current minute for each key ref (PLAN_REF: the whole plan)."""
    limiter = get_limiter()
    return {ref: limiter.current(key_ref=ref, now=now) for ref in key_refs}

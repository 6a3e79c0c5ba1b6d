"""Minute windows in Redis (``REDIS_URL``): one Lua script checks and increments the key's
and the plan's window together and gives each counter its expiry in the same step."""

from datetime import datetime

from usage.metering import windows
from usage.metering.limiters.base import decision


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
    # The key's window alone (an answer from the cache). KEYS: key window. ARGV: limit, keep.
    KEY_ONLY = """
local k = tonumber(redis.call('GET', KEYS[1]) or '0')
if k >= tonumber(ARGV[1]) then
  return {0, k}
end
k = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, k}
"""
    in_transaction = False

    def __init__(self, url: str, prefix: str = "tollgate", timeout: float = 0.25):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts and one try: a Redis that is away should cost a call little, and
        # the fallback limiter (fallback.py) answers from the database instead.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.script = self.client.register_script(self.SCRIPT)
        self.key_only = self.client.register_script(self.KEY_ONLY)
        self.prefix = prefix

    def _key(self, ref: int, minute: int) -> str:
        return f"{self.prefix}:rpm:{ref}:{minute}"

    def admit(
        self, *, key_ref: int, key_limit: int, plan_ref: int | None, plan_limit: int, now: datetime
    ):
        minute = windows.minute_index(now)
        if plan_ref is None:
            admitted, key_calls = self.key_only(
                keys=[self._key(key_ref, minute)], args=[key_limit, 180]
            )
            return decision(bool(admitted), key_limit, plan_limit, key_calls, 0, now)
        # Kept two minutes past its window, so a slow clock on one worker cannot reopen it.
        admitted, key_calls, plan_calls = self.script(
            keys=[self._key(key_ref, minute), self._key(plan_ref, minute)],
            args=[key_limit, plan_limit, 180],
        )
        return decision(bool(admitted), key_limit, plan_limit, key_calls, plan_calls, now)

    def current(self, *, key_ref: int, now: datetime) -> int:
        value = self.client.get(self._key(key_ref, windows.minute_index(now)))
        return int(value or 0)

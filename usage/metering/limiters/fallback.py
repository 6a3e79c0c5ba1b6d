"""Redis with the database behind it: the limiter ``get_limiter()`` gives when REDIS_URL is set.

While Redis answers, calls are counted there. When it fails (refused, timed out, an error
reply) the circuit opens and the windows come from the database limiter: real counts,
exact on their own, the same ones a Tollgate without Redis keeps. The two backends count
separately, so in the minute that straddles a switch a key may be admitted up to its
limit by each of them: at most twice its limit, in that one minute only.

The choice is made once per call (``for_call``), so a call that starts on Redis and finds
it gone is counted once, by the database, and never twice.
"""

from redis.exceptions import RedisError

from usage.metering import db
from usage.metering.limiters.circuit import Circuit
from usage.metering.limiters.database import DatabaseLimiter
from usage.metering.limiters.redis import RedisLimiter


class FallbackLimiter:
    def __init__(self, redis: RedisLimiter, database: DatabaseLimiter, circuit: Circuit):
        self.redis = redis
        self.database = database
        self.circuit = circuit
        self._redis_first = _RedisFirst(self)

    @property
    def redis_away(self) -> bool:
        return self.circuit.is_open

    def for_call(self):
        """The limiter for one call: Redis (the database if it fails mid-call) while the
        circuit lets us try it, else the database inside the caller's transaction."""
        return self._redis_first if self.circuit.allows() else self.database

    def current(self, *, key_ref: int, now) -> int:
        if self.circuit.allows():
            try:
                calls = self.redis.current(key_ref=key_ref, now=now)
            except RedisError as error:
                self.circuit.failed(error)
            else:
                self.circuit.succeeded()
                return calls
        return self.database.current(key_ref=key_ref, now=now)


class _RedisFirst:
    """Redis's side of a call: before the caller's transaction, like the Redis limiter."""

    in_transaction = False

    def __init__(self, limiter: FallbackLimiter):
        self.limiter = limiter

    def admit(self, **limits):
        try:
            minute = self.limiter.redis.admit(**limits)
        except RedisError as error:
            self.limiter.circuit.failed(error)
            # The caller's transaction has not begun: the database windows get their own.
            with db.write() as cur:
                return self.limiter.database.admit(cur=cur, **limits)
        self.limiter.circuit.succeeded()
        return minute

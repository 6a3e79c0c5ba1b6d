"""When to try Redis: a circuit breaker, one per worker process.

A Redis that refuses connections fails at once, but one that accepts and never answers
costs the whole socket timeout on every call that tries it. After a failure the circuit
opens: nobody tries Redis for ``retry_interval`` seconds. Then the first caller tries it
once (half open) while everyone else stays on the database for another interval; its
success closes the circuit, its failure keeps it open. So a silent Redis costs one
timeout per interval per process, not one per call.

The log says so once per episode: a warning when the circuit opens, one line when it
closes, never a traceback per call.
"""

import logging
import threading
import time

logger = logging.getLogger("usage.metering.limiters")


class Circuit:
    def __init__(self, *, retry_interval: float, clock=time.monotonic):
        self.retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: closed, Redis is in use

    @property
    def is_open(self) -> bool:
        """Redis is away: the last try failed and none has succeeded since."""
        return self._retry_at is not None

    def allows(self) -> bool:
        """Whether this caller should try Redis now. While open, only the first caller
        after each interval gets a yes."""
        if self._retry_at is None:  # closed: no lock on the hot path
            return True
        with self._lock:
            if self._retry_at is None:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_interval
            return True

    def failed(self, error: Exception) -> None:
        with self._lock:
            first = self._retry_at is None
            self._retry_at = self._clock() + self.retry_interval
        if first:
            logger.warning(
                "Redis unavailable: per-minute limits from the database until it answers "
                "again (%s: %s)",
                type(error).__name__,
                error,
            )

    def succeeded(self) -> None:
        if self._retry_at is None:
            return
        with self._lock:
            if self._retry_at is None:
                return
            self._retry_at = None
        logger.info("Redis answers again: per-minute limits from Redis")

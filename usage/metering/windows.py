"""The calendar windows Tollgate counts in, all in UTC (as CoinGecko's are).

Kept apart so every window boundary is computed one way, and tests can pass a ``now``.
"""

import math
import time
from datetime import UTC, date, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def minute_index(now: datetime) -> int:
    """Whole minutes since the Unix epoch: the per-minute limiter's window."""
    return int(now.timestamp()) // 60


def next_minute(now: datetime) -> datetime:
    return datetime.fromtimestamp((minute_index(now) + 1) * 60, UTC)


def seconds_to_next_minute(now: datetime) -> int:
    """Whole seconds until the next window opens, never 0 (Retry-After: 0 means 'now')."""
    return max(1, math.ceil((next_minute(now) - now).total_seconds()))


def hour_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> date:
    return now.astimezone(UTC).date().replace(day=1)


def monotonic() -> float:
    return time.perf_counter()

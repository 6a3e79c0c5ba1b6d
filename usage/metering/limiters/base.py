"""What every limiter answers: the minute decision, computed one way for both backends."""

from dataclasses import dataclass
from datetime import datetime

from usage.metering import windows

# A key with no limit of its own is still counted (for "calls in the last minute").
UNLIMITED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class MinuteDecision:
    admitted: bool
    limit: int
    remaining: int
    reset: datetime
    retry_after: int


def decision(admitted, key_limit, plan_limit, key_calls, plan_calls, now) -> MinuteDecision:
    limit = min(key_limit, plan_limit)
    remaining = 0 if not admitted else max(0, min(key_limit - key_calls, plan_limit - plan_calls))
    return MinuteDecision(
        admitted=admitted,
        limit=limit,
        remaining=remaining,
        reset=windows.next_minute(now),
        retry_after=windows.seconds_to_next_minute(now),
    )

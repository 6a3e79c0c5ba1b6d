"""This month's totals, read from the month counters: for /key, the report and the alerts."""

from datetime import datetime

from usage.metering import windows
from usage.models import MonthUsage


def month_totals(*, key_refs: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """{key_ref: (credits used, overage calls)} this UTC month; absent refs used nothing."""
    rows = MonthUsage.objects.filter(key_ref__in=key_refs, month=windows.month_start(now))
    return {row.key_ref: (row.credits_used, row.overage_calls) for row in rows}

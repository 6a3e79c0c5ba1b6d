"""Periods a report covers, in the team's TIME_ZONE: timeframes and date ranges.

Dates are whole days in ``settings.TIME_ZONE`` with both ends included. Everything
resolves to a ``Period``: a half-open UTC interval of whole hours (the counters' unit)
plus the local days it covers.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings

from usage.metering import windows

# A year and a day: a leap year's whole range, and "last 30 days" across any boundary.
MAX_RANGE_DAYS = 366

TIMEFRAMES = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
]
DEFAULT_TIMEFRAME = "this_month"


def team_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, included
    end: datetime  # UTC, excluded
    first_day: date  # in the team's time zone
    last_day: date  # in the team's time zone, included
    label: str

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]

    @property
    def heading(self) -> str:
        """ "Last 7 days (2026-11-20 to 2026-11-26)"; a date range says its dates once."""
        dates = f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"
        return dates if self.label == dates else f"{self.label} ({dates})"

    @property
    def slug(self) -> str:
        return f"{self.first_day.isoformat()}_{self.last_day.isoformat()}"


def local_midnight(day: date, zone) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def period_for_dates(first_day: date, last_day: date, *, label: str | None = None) -> Period:
    """Whole local days from ``first_day`` to ``last_day``, both included."""
    zone = team_zone()
    return Period(
        start=local_midnight(first_day, zone),
        end=local_midnight(last_day + timedelta(days=1), zone),
        first_day=first_day,
        last_day=last_day,
        label=label or f"{first_day.isoformat()} to {last_day.isoformat()}",
    )


def period_for_timeframe(code: str, now: datetime) -> Period:
    zone = team_zone()
    today = now.astimezone(zone).date()
    label = dict(TIMEFRAMES)[code]
    if code == "24h":
        end = windows.hour_start(now) + timedelta(hours=1)
        start = end - timedelta(hours=24)
        return Period(
            start,
            end,
            start.astimezone(zone).date(),
            (end - timedelta(microseconds=1)).astimezone(zone).date(),
            label,
        )
    if code in ("7d", "30d"):
        days = 7 if code == "7d" else 30
        return period_for_dates(today - timedelta(days=days - 1), today, label=label)
    first_of_month = today.replace(day=1)
    if code == "this_month":
        next_month = (first_of_month + timedelta(days=32)).replace(day=1)
        return period_for_dates(first_of_month, next_month - timedelta(days=1), label=label)
    last_month_end = first_of_month - timedelta(days=1)
    return period_for_dates(last_month_end.replace(day=1), last_month_end, label=label)

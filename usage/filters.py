"""What a history or export covers: keys, and a timeframe or a date range, in the team's TIME_ZONE.

Dates are whole days in ``settings.TIME_ZONE`` with both ends included. A timeframe and a
date range are never mixed silently: asking for both is a form error. Everything resolves
to a ``Period``: a half-open UTC interval of whole hours (the counters' unit) plus the
local days it covers.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import F

from keys.models import ApiKey
from usage import windows

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


def keys_for_reports(user):
    """The keys a user may report on: their own (staff: everyone's), deleted ones included."""
    active_first = F("deleted_at").asc(nulls_first=True)
    qs = ApiKey.objects.select_related("owner").order_by(active_first, "label", "id")
    return qs if user.is_staff else qs.filter(owner=user)


class UsageFilterForm(forms.Form):
    keys = forms.MultipleChoiceField(
        label="API keys", required=False, help_text="None selected: all of them."
    )
    timeframe = forms.ChoiceField(
        choices=[("", "— or a date range —"), *TIMEFRAMES], required=False
    )
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data=None, *, user, now: datetime | None = None):
        super().__init__(data)
        self.now = now or windows.utc_now()
        self.available_keys = list(keys_for_reports(user))
        self.fields["keys"].choices = [
            (str(key.pk), f"{key.label} ({key.masked}{', deleted' if not key.is_active else ''})")
            for key in self.available_keys
        ]

    def clean(self):
        cleaned = super().clean()
        timeframe = cleaned.get("timeframe")
        start, end = cleaned.get("start"), cleaned.get("end")
        if self.errors:
            return cleaned
        if timeframe and (start or end):
            raise forms.ValidationError(
                "Choose a timeframe or a date range, not both.", code="mixed"
            )
        if start or end:
            if not start:
                self.add_error("start", "Give the first day of the range.")
            elif not end:
                self.add_error("end", "Give the last day of the range.")
            elif end < start:
                self.add_error("end", "The last day comes before the first.")
            elif (end - start).days + 1 > MAX_RANGE_DAYS:
                self.add_error("end", f"A range covers at most {MAX_RANGE_DAYS} days.")
            else:
                try:
                    cleaned["period"] = period_for_dates(start, end)
                except OverflowError:  # year 1 or 9999 pushed past the calendar's end
                    self.add_error("end", "That date is out of range.")
        else:
            cleaned["period"] = period_for_timeframe(timeframe or DEFAULT_TIMEFRAME, self.now)
        chosen = {int(pk) for pk in cleaned.get("keys") or []}
        cleaned["selected_keys"] = [
            key for key in self.available_keys if not chosen or key.pk in chosen
        ]
        return cleaned

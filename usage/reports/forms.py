"""The history and export filters: keys, and a timeframe or a date range.

A timeframe and a date range are never mixed silently: asking for both is a form error.
"""

from datetime import datetime

from django import forms

from usage.metering import windows
from usage.reports.export import DAY, GRANULARITIES
from usage.reports.periods import (
    DEFAULT_TIMEFRAME,
    MAX_RANGE_DAYS,
    TIMEFRAMES,
    period_for_dates,
    period_for_timeframe,
)
from usage.reports.selectors import keys_for_reports


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


class ExportForm(UsageFilterForm):
    granularity = forms.ChoiceField(choices=GRANULARITIES, required=False)

    def clean(self):
        cleaned = super().clean()
        cleaned["granularity"] = cleaned.get("granularity") or DAY
        return cleaned

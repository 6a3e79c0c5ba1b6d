"""The history and export filters: keys, and a timeframe or a date range.

A date range, once given, wins over the timeframe: the page starts on "This month", and a
person who then picks two dates means those dates. ``canonical_query`` is the filter as a
short query string (no empty fields, no timeframe beside a range), for links and the URL.
"""

from datetime import datetime

from django import forms
from django.http import QueryDict

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
        label="API keys",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: all of them.",
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

    def key_options(self) -> dict:
        """The key checkboxes: ``active`` and ``deleted``, each a list of (key, checked).

        What is checked is what the results show: every key when none was chosen.
        ``deleted_chosen`` says a deleted key was picked on purpose (its list opens).
        """
        if self.is_bound and self.is_valid():
            checked = {key.pk for key in self.cleaned_data["selected_keys"]}
        elif self.is_bound:
            given = self.data.getlist("keys") if hasattr(self.data, "getlist") else []
            checked = {int(pk) for pk in given if pk.isdigit()}
        else:
            checked = {key.pk for key in self.available_keys}
        active = [(key, key.pk in checked) for key in self.available_keys if key.is_active]
        deleted = [(key, key.pk in checked) for key in self.available_keys if not key.is_active]
        everything = len(checked) == len(self.available_keys)
        return {
            "active": active,
            "deleted": deleted,
            "deleted_chosen": not everything and any(chosen for _, chosen in deleted),
        }

    def canonical_query(self) -> str:
        """The valid filter as the shortest query string that asks for it again."""
        cleaned = self.cleaned_data
        query = QueryDict(mutable=True)
        selected = cleaned["selected_keys"]
        if len(selected) < len(self.available_keys):
            query.setlist("keys", [str(key.pk) for key in selected])
        if cleaned.get("start"):
            query["start"] = cleaned["start"].isoformat()
            query["end"] = cleaned["end"].isoformat()
        else:
            query["timeframe"] = cleaned.get("timeframe") or DEFAULT_TIMEFRAME
        return query.urlencode()


class ExportForm(UsageFilterForm):
    granularity = forms.ChoiceField(choices=GRANULARITIES, required=False)

    def clean(self):
        cleaned = super().clean()
        cleaned["granularity"] = cleaned.get("granularity") or DAY
        return cleaned

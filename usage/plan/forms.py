"""Forms of the settings page. Parsing rules live in usage.plan.services, shared with setplan."""

from django import forms
from django.core.exceptions import ValidationError

from keys.models import LIMIT_MAX
from usage.plan import services


class PlanForm(forms.Form):
    name = forms.CharField(label="Plan name", max_length=100)
    monthly_credits = forms.IntegerField(
        label="Monthly call credits", min_value=1, max_value=LIMIT_MAX
    )
    rate_limit = forms.IntegerField(label="Requests per minute", min_value=1, max_value=LIMIT_MAX)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("The plan needs a name.")
        return name


class AlertsForm(forms.Form):
    thresholds = forms.CharField(
        label="Thresholds (% of the monthly credits)",
        max_length=100,
        help_text="Comma-separated, e.g. 50,75,90,100.",
    )
    recipients = forms.CharField(
        label="Extra recipients",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Staff members with an email address always get the alerts. "
        "Add other addresses here, separated by commas.",
    )
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=500,
        help_text="Optional: the same alerts as a JSON POST with a Slack-compatible “text”.",
    )

    def clean_thresholds(self):
        return services.thresholds_parse(self.cleaned_data["thresholds"])

    def clean_recipients(self):
        return services.recipients_parse(self.cleaned_data["recipients"])

    def clean_webhook_url(self):
        return services.webhook_clean(self.cleaned_data["webhook_url"])


class ToggleForm(forms.Form):
    """The on/off switches (alerts, overage): a single ``on`` or ``off``."""

    value = forms.ChoiceField(choices=[("on", "on"), ("off", "off")])

    @property
    def is_on(self) -> bool:
        return self.cleaned_data["value"] == "on"


class CacheTimesForm:
    """The cache's time-to-live table as posted: ``ttl:<endpoint>`` fields and one new row.

    Not a Django form: its fields are the table's rows. ``spec`` is what ``plan_update``
    takes (``ENDPOINT=SECONDS,...``); its own parser reports what is wrong.
    """

    def __init__(self, data):
        self.data = data
        self.errors_list: list[str] = []
        self.spec = ""

    def is_valid(self) -> bool:
        parts = []
        for name, value in self.data.items():
            if name.startswith("ttl:"):
                parts.append(f"{name[4:]}={value.strip()}")
        endpoint = self.data.get("new_endpoint", "").strip()
        seconds = self.data.get("new_seconds", "").strip()
        if endpoint or seconds:
            if not (endpoint and seconds):
                self.errors_list.append("Give the new endpoint and its seconds, or neither.")
            else:
                parts.append(f"{endpoint}={seconds}")
        if any("," in part for part in parts):
            self.errors_list.append("An endpoint has no commas in it.")
        self.spec = ",".join(parts)
        return not self.errors_list

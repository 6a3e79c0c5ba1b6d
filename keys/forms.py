from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from keys.models import LIMIT_MAX
from keys.networks import allowlist_clean
from keys.services import GRACE_PERIODS


def _expiry_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Expires",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional. From this moment on, calls with the key are refused. "
        "Leave blank for a key that never expires.",
    )


def _allowlist_field() -> forms.CharField:
    return forms.CharField(
        label="Allowed addresses",
        required=False,
        max_length=4000,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "e.g. 203.0.113.7, 10.1.0.0/16"}
        ),
        help_text="Optional. IPv4 or IPv6 addresses and networks (CIDR), separated by commas. "
        "Calls from any other address are refused. Leave blank to allow any address.",
    )


class KeyAccessFields(forms.Form):
    """Expiry and address allowlist: the key's owner and staff set them."""

    expires_at = _expiry_field()
    allowed_ips = _allowlist_field()

    def __init__(self, *args, current_expiry=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_expiry = current_expiry
        # datetime-local has no zone: say which one the moment is read in.
        zone = timezone.get_current_timezone_name()
        self.fields["expires_at"].label = f"Expires ({zone})"

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        current = self.current_expiry
        # The input shows minutes: a key's expiry set to the second elsewhere (the admin)
        # and posted back unchanged stays as it was.
        if value and current and value == current.replace(second=0, microsecond=0):
            return current
        return value

    def clean_allowed_ips(self):
        try:
            return allowlist_clean(self.cleaned_data["allowed_ips"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class KeyCreateForm(KeyAccessFields):
    label = forms.CharField(
        max_length=100,
        help_text="What the key is for, e.g. “pricing bot” or “Alice's laptop”.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    field_order = ["label", "expires_at", "allowed_ips"]


class KeyEditForm(KeyAccessFields):
    """A member's edit: the label, expiry and allowlist. Limits are staff's
    (keys.services.key_set_limits), so a member's form has no limit fields and ignores any
    that are posted."""

    label = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    field_order = ["label", "expires_at", "allowed_ips"]


class StaffKeyEditForm(KeyEditForm):
    rate_limit = forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=1,
        max_value=LIMIT_MAX,
        help_text="Leave blank to use the plan's rate limit.",
    )
    monthly_credits = forms.IntegerField(
        label="Monthly call credits",
        required=False,
        min_value=1,
        max_value=LIMIT_MAX,
        help_text="Leave blank to use the plan's monthly credits.",
    )

    def __init__(self, *args, plan=None, **kwargs):
        super().__init__(*args, **kwargs)
        if plan is not None:  # say what a blank limit falls back to
            self.fields[
                "rate_limit"
            ].help_text = f"Leave blank to use the plan's: {plan.rate_limit:,} per minute."
            self.fields[
                "monthly_credits"
            ].help_text = f"Leave blank to use the plan's: {plan.monthly_credits:,} a month."


GRACE_LABELS = {
    "0": "Stop the old key now (choose this if it leaked)",
    "1h": "Keep the old key working for 1 hour",
    "24h": "Keep the old key working for 24 hours",
    "7d": "Keep the old key working for 7 days",
}
GRACE_CHOICES = [(value, GRACE_LABELS[value]) for value in GRACE_PERIODS]


class KeyRollForm(forms.Form):
    grace = forms.ChoiceField(
        label="The old key",
        choices=GRACE_CHOICES,
        initial="0",
        widget=forms.RadioSelect,
        help_text="Time to put the new key everywhere the old one is used.",
    )

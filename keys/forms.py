from django import forms

from keys.models import LIMIT_MAX


class KeyCreateForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        help_text="What the key is for, e.g. “pricing bot” or “Alice's laptop”.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class KeyEditForm(forms.Form):
    """A member's edit: the label only. Limits are staff's (keys.services.key_set_limits),
    so a member's form has no limit fields and ignores any that are posted."""

    label = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))


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

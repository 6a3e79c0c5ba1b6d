from django import forms

from keys.models import LIMIT_MAX


class KeyCreateForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        help_text="What the key is for, e.g. “pricing bot” or “Alice's laptop”.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class KeyEditForm(forms.Form):
    label = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
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

"""The team's plan (one row) and the record of every change to it."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from keys.models import LIMIT_MAX


class Plan(models.Model):
    """The team's CoinGecko plan: one row (pk=1), edited in the admin or with ``setplan``."""

    name = models.CharField(max_length=100, default="Analyst")
    monthly_credits = models.PositiveIntegerField(
        "monthly call credits",
        default=500_000,
        validators=[MinValueValidator(1), MaxValueValidator(LIMIT_MAX)],
    )
    rate_limit = models.PositiveIntegerField(
        "requests per minute",
        default=500,
        validators=[MinValueValidator(1), MaxValueValidator(LIMIT_MAX)],
    )
    overage = models.BooleanField(
        "overage on",
        default=False,
        help_text="On: calls go on past the monthly credits and count as overage. "
        "Off: they are refused once the credits are used up.",
    )
    alerts_enabled = models.BooleanField(
        "call consumption alerts",
        default=True,
        help_text="Email (and the webhook) when this month's calls cross a threshold.",
    )
    thresholds = models.CharField(
        max_length=100,
        default="50,75,90,100",
        help_text="Percentages of the monthly credits, comma-separated.",
    )
    recipients = models.TextField(
        "extra recipients",
        blank=True,
        help_text="Addresses alerted besides the staff, comma-separated.",
    )
    webhook_url = models.URLField(
        "webhook URL",
        max_length=500,
        blank=True,
        help_text="Optional: the same alerts as a JSON POST (Slack-compatible).",
    )
    cache_enabled = models.BooleanField(
        "response cache",
        default=False,
        help_text="On: repeated identical calls are answered from a shared cache at no "
        "credit, for each endpoint's time-to-live.",
    )
    cache_ttls = models.TextField(
        "cache times-to-live",
        blank=True,
        default="",
        help_text='Staff\'s own seconds per endpoint over the defaults, as JSON: {"/global": 300}.',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "plan"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "Plan":
        plan, _ = cls.objects.get_or_create(pk=1)
        return plan

    @property
    def threshold_list(self) -> list[int]:
        return [int(part) for part in self.thresholds.split(",") if part.strip()]

    @property
    def recipient_list(self) -> list[str]:
        return [part.strip() for part in self.recipients.split(",") if part.strip()]


# What the change history calls each setting: the words of the settings page, not the code's.
SETTING_NAMES = {
    "name": "Plan name",
    "monthly_credits": "Monthly call credits",
    "rate_limit": "Rate limit (requests per minute)",
    "overage": "Overage",
    "alerts_enabled": "Alerts",
    "thresholds": "Alert thresholds",
    "recipients": "Extra alert recipients",
    "webhook_url": "Alert webhook",
}
NUMERIC_SETTINGS = {"monthly_credits", "rate_limit"}


class PlanChange(models.Model):
    """One field of the plan changed: who, when, from what, to what. Never edited."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(
        max_length=150, help_text="The user's name, or the command that made the change."
    )
    field = models.CharField(max_length=50)
    old = models.TextField("from", blank=True)
    new = models.TextField("to", blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.field} {self.old!r} → {self.new!r}"

    @property
    def setting(self) -> str:
        return SETTING_NAMES.get(self.field, self.field)

    @property
    def old_shown(self) -> str:
        return self._shown(self.old)

    @property
    def new_shown(self) -> str:
        return self._shown(self.new)

    def _shown(self, value: str) -> str:
        """A value as the page shows it: 500,000 credits, thresholds "50, 75, 90, 100 %"."""
        if self.field in NUMERIC_SETTINGS and value.isdigit():
            return f"{int(value):,}"
        if self.field == "thresholds" and value:
            return ", ".join(value.split(",")) + " %"
        if self.field == "recipients":
            return ", ".join(value.split(","))
        return value

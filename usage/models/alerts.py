"""Call consumption alerts: a threshold crossed (once), and its deliveries."""

from django.db import models


class Alert(models.Model):
    """A threshold crossed by the plan (scope 0) or a key (its id) in one UTC month.

    The unique constraint is the once-only guarantee: whichever sender inserts the row
    first owns the crossing; every other sender's insert fails and it moves on. The
    figures are a snapshot taken at the crossing, so a retried email says the same thing.
    """

    class State(models.TextChoices):
        SENT = "sent", "sent"  # deliveries were queued (see their own states)
        SUPERSEDED = "superseded", "below a threshold already announced this month"

    scope = models.BigIntegerField(help_text="0: the plan; otherwise the key's id.")
    month = models.DateField(help_text="The first day of the month (UTC).")
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the monthly credits.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.SENT)
    created_at = models.DateTimeField()
    calls = models.PositiveBigIntegerField(help_text="Calls this month at the crossing.")
    credits = models.PositiveBigIntegerField(help_text="Monthly credits at the crossing.")
    overage = models.BooleanField(help_text="Overage was on at the crossing.")
    details = models.JSONField(default=dict, blank=True, help_text="Plan or key name, top keys.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "month", "threshold"], name="alert_once")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        who = "plan" if self.scope == 0 else f"key {self.scope}"
        return f"{who} {self.month:%Y-%m} {self.threshold}%"

    @property
    def remaining(self) -> int:
        return max(0, self.credits - self.calls)

    @property
    def percent(self) -> int:
        return self.calls * 100 // self.credits if self.credits else 0


class AlertDelivery(models.Model):
    """One alert to one recipient (an address or the webhook): claimed, sent, retried."""

    class Channel(models.TextChoices):
        EMAIL = "email", "email"
        WEBHOOK = "webhook", "webhook"

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    target = models.CharField(max_length=500, help_text="An email address or the webhook URL.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="Not tried again before this time.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "target"], name="alertdelivery_unique"
            )
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.alert} → {self.target} ({self.state})"

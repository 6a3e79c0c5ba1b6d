"""The plan, the usage log and the counters that move with it.

Every call under /api/v3/ that names a key leaves one ``Call`` row. Counters per key per
UTC hour and per key and plan per UTC month move in the same transaction, so reports and
``/key`` read a few counter rows instead of scanning the log.

Counter tables identify a key by ``key_ref``, an ApiKey id or one of two reserved values,
rather than a nullable foreign key: a unique index treats NULLs as distinct on SQLite,
and the upserts on the hot path need that index to hold for every row.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from keys.models import LIMIT_MAX, ApiKey

# The whole plan: its month and minute counters (MonthUsage, MinuteUsage), its alerts.
PLAN_REF = 0
# Calls without a usable key (missing, unknown, deleted): their hour and day counters.
NO_KEY_REF = -1


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


class Outcome(models.TextChoices):
    OK = "ok", "ok"
    UPSTREAM_ERROR = "upstream_error", "upstream error"
    RATE_LIMITED = "rate_limited", "rate limited"
    CREDITS_EXHAUSTED = "credits_exhausted", "credits exhausted"
    INVALID_KEY = "invalid_key", "invalid key"
    MISSING_KEY = "missing_key", "missing key"
    BAD_REQUEST = "bad_request", "bad request"
    UPSTREAM_UNREACHABLE = "upstream_unreachable", "upstream unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout", "upstream timeout"
    METHOD_NOT_ALLOWED = "method_not_allowed", "method not allowed"
    TOO_LARGE = "too_large", "request too large"
    # Forwarded, answer not yet recorded; a row left so after a crash is settled abandoned.
    IN_FLIGHT = "in_flight", "in flight"
    ABANDONED = "abandoned", "abandoned (cut off in flight; credit kept)"


class Bucket(models.TextChoices):
    """How the report and the export group outcomes: served, failed, refused by Tollgate."""

    OK = "ok", "successful"
    ERRORS = "errors", "errors"
    REFUSED = "refused", "refused"


BUCKETS = {
    Outcome.OK: Bucket.OK,
    Outcome.UPSTREAM_ERROR: Bucket.ERRORS,
    Outcome.UPSTREAM_UNREACHABLE: Bucket.ERRORS,
    Outcome.UPSTREAM_TIMEOUT: Bucket.ERRORS,
    Outcome.BAD_REQUEST: Bucket.ERRORS,
    Outcome.METHOD_NOT_ALLOWED: Bucket.ERRORS,
    Outcome.TOO_LARGE: Bucket.ERRORS,
    Outcome.IN_FLIGHT: Bucket.ERRORS,  # never counted: counters move when a call ends
    Outcome.ABANDONED: Bucket.ERRORS,
    Outcome.RATE_LIMITED: Bucket.REFUSED,
    Outcome.CREDITS_EXHAUSTED: Bucket.REFUSED,
    Outcome.INVALID_KEY: Bucket.REFUSED,
    Outcome.MISSING_KEY: Bucket.REFUSED,
}


class Call(models.Model):
    """One request under /api/v3/ with a valid key: forwarded, answered locally, or refused.

    Requests without a valid key are counted in KeylessCalls instead (older rows with no
    key may still be here).
    """

    at = models.DateTimeField(db_index=True)
    key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    method = models.CharField(max_length=10)
    path = models.CharField("endpoint", max_length=300)
    query = models.CharField(max_length=1000, blank=True)
    status = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    credits = models.PositiveSmallIntegerField(default=0)
    overage = models.BooleanField(default=False)
    latency_ms = models.FloatField("upstream latency (ms)", null=True, blank=True)
    bytes = models.PositiveBigIntegerField("response bytes", default=0)

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"]),
            # The few rows in flight, for settle(): a partial index stays tiny.
            models.Index(
                fields=["at"], condition=models.Q(outcome="in_flight"), name="call_in_flight"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


class KeylessCalls(models.Model):
    """Calls without a valid key (missing, unknown, deleted) per UTC minute, client address
    and outcome: a flood without a key costs one row per address per minute, not one per
    call. Their hour counters (key_ref NO_KEY_REF) move as for any call."""

    minute = models.BigIntegerField(help_text="Minutes since the Unix epoch (UTC).")
    address = models.CharField("client address", max_length=45, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    calls = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField("response bytes", default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "address", "outcome"], name="keylesscalls_unique"
            )
        ]
        verbose_name = "calls without a valid key"
        verbose_name_plural = "calls without a valid key"

    def __str__(self) -> str:
        return f"minute {self.minute} {self.address or '?'} {self.outcome}: {self.calls}"


class HourUsage(models.Model):
    """Calls per key per UTC hour, endpoint and outcome: the report's unit of time.

    ``key_ref`` is the key's id, or NO_KEY_REF for calls without a usable key; the plan's
    total is the sum over all refs (it has no row of its own here).

    Whole UTC hours let the report cut days exactly in any whole-hour time zone.
    """

    key_ref = models.BigIntegerField()
    hour = models.DateTimeField()
    endpoint = models.CharField(max_length=100, help_text="e.g. /coins/{id}/market_chart")
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    calls = models.PositiveIntegerField(default=0)
    credits = models.PositiveIntegerField(default=0)
    overage_calls = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key_ref", "hour", "endpoint", "outcome"], name="hourusage_unique"
            )
        ]
        indexes = [
            # Covers the report's queries (some keys, a period of hours, summed by day,
            # endpoint or outcome), so they read the index alone instead of fetching each
            # counter row scattered over the table (tens of thousands for a month of a
            # big log).
            models.Index(
                fields=[
                    "key_ref",
                    "hour",
                    "endpoint",
                    "outcome",
                    "calls",
                    "credits",
                    "overage_calls",
                ],
                name="hourusage_report",
            )
        ]

    def __str__(self) -> str:
        return f"key {self.key_ref} {self.hour:%Y-%m-%d %H}:00 {self.endpoint} {self.outcome}"


class DayUsage(models.Model):
    """A closed local day's calls per key, endpoint and outcome: the hour counters, summed.

    A cache, filled by usage.reports.daycache the first time a report needs a day that has ended,
    and kept per time zone (days cut in another TIME_ZONE are other rows).
    """

    zone = models.CharField(max_length=64)
    day = models.DateField()
    key_ref = models.BigIntegerField()
    endpoint = models.CharField(max_length=100)
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    calls = models.PositiveBigIntegerField(default=0)
    credits = models.PositiveBigIntegerField(default=0)
    overage_calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["zone", "key_ref", "day", "endpoint", "outcome"], name="dayusage_unique"
            )
        ]

    def __str__(self) -> str:
        return f"key {self.key_ref} {self.day} ({self.zone}) {self.endpoint} {self.outcome}"


class CachedDay(models.Model):
    """A day whose DayUsage rows are complete in ``zone`` (a day with no calls has none)."""

    zone = models.CharField(max_length=64)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["zone", "day"], name="cachedday_unique")]

    def __str__(self) -> str:
        return f"{self.day} ({self.zone})"


class MonthUsage(models.Model):
    """Credits and overage calls per key (or the plan, PLAN_REF) per UTC calendar month.

    ``credits_used`` includes credits reserved by calls still in flight; a call that the
    upstream does not answer with 2xx gives its credit back.
    """

    key_ref = models.BigIntegerField()
    month = models.DateField(help_text="The first day of the month (UTC).")
    credits_used = models.PositiveIntegerField(default=0)
    overage_calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_ref", "month"], name="monthusage_unique")
        ]

    def __str__(self) -> str:
        return f"key {self.key_ref} {self.month:%Y-%m}: {self.credits_used} credits"


class MinuteUsage(models.Model):
    """Calls admitted per key (or the plan) per UTC calendar minute: the database limiter.

    Rows older than a few minutes are swept by the limiter itself.
    """

    key_ref = models.BigIntegerField()
    minute = models.BigIntegerField(help_text="Minutes since the Unix epoch (UTC).")
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_ref", "minute"], name="minuteusage_unique")
        ]

    def __str__(self) -> str:
        return f"key {self.key_ref} minute {self.minute}: {self.calls}"


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

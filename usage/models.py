"""The plan, the usage log and the counters that move with it.

Every call under /api/v3/ that names a key leaves one ``Call`` row. Counters per key per
UTC hour and per key and plan per UTC month move in the same transaction, so reports and
``/key`` read a few counter rows instead of scanning the log.

Counter tables identify a key by ``key_ref`` (an ApiKey id, 0 for "no key" or "the whole
plan") rather than a nullable foreign key: a unique index treats NULLs as distinct on
SQLite, and the upserts on the hot path need that index to hold for every row.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from keys.models import LIMIT_MAX, ApiKey

PLAN_REF = 0  # key_ref of the plan-wide counters, and of calls without a usable key


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


class Call(models.Model):
    """One request under /api/v3/: forwarded, answered locally, or refused."""

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
        indexes = [models.Index(fields=["key", "at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


class HourUsage(models.Model):
    """Calls per key per UTC hour, endpoint and outcome: the report's unit of time.

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
        indexes = [models.Index(fields=["hour", "key_ref"])]

    def __str__(self) -> str:
        return f"key {self.key_ref} {self.hour:%Y-%m-%d %H}:00 {self.endpoint} {self.outcome}"


class MonthUsage(models.Model):
    """Credits and overage calls per key (or the plan, key_ref 0) per UTC calendar month.

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

"""Counters that move with the log, so reports and /key read a few rows, never the log.

Counter tables identify a key by ``key_ref``, an ApiKey id or one of two reserved values,
rather than a nullable foreign key: a unique index treats NULLs as distinct on SQLite,
and the upserts on the hot path need that index to hold for every row.
"""

from django.db import models

from usage.models.calls import Outcome

# The whole plan: its month and minute counters (MonthUsage, MinuteUsage), its alerts.
PLAN_REF = 0
# Calls without a usable key (missing, unknown, deleted): their hour and day counters.
NO_KEY_REF = -1


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

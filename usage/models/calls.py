"""The usage log: a row per call with a valid key, a counter per minute and address for
calls without one, and the outcomes they end with."""

from django.db import models

from keys.models import ApiKey


class Outcome(models.TextChoices):
    OK = "ok", "ok"
    UPSTREAM_ERROR = "upstream_error", "upstream error"
    RATE_LIMITED = "rate_limited", "rate limited"
    CREDITS_EXHAUSTED = "credits_exhausted", "credits exhausted"
    INVALID_KEY = "invalid_key", "invalid key"
    MISSING_KEY = "missing_key", "missing key"
    # A known key refused for its own settings (keys/): past its expiry, or called from an
    # address outside its allowlist.
    KEY_EXPIRED = "key_expired", "key expired"
    ADDRESS_REFUSED = "address_refused", "address not allowed"
    BAD_REQUEST = "bad_request", "bad request"
    UPSTREAM_UNREACHABLE = "upstream_unreachable", "upstream unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout", "upstream timeout"
    METHOD_NOT_ALLOWED = "method_not_allowed", "method not allowed"
    TOO_LARGE = "too_large", "request too large"
    # Forwarded, answer not yet recorded; a row left so after a crash is settled abandoned.
    IN_FLIGHT = "in_flight", "in flight"
    ABANDONED = "abandoned", "abandoned (cut off in flight; credit kept)"
    # Answered by the response cache, at no credit (usage/cache).
    CACHED = "cached", "answered from cache"
    COALESCED = "coalesced", "shared another call's answer"
    STALE = "stale", "stale copy (upstream failed)"


class Bucket(models.TextChoices):
    """How the report and the export group outcomes: served, failed, refused by Tollgate."""

    OK = "ok", "successful"
    ERRORS = "errors", "errors"
    REFUSED = "refused", "refused"
    SAVED = "saved", "answered from cache"


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
    Outcome.CACHED: Bucket.SAVED,
    Outcome.COALESCED: Bucket.SAVED,
    Outcome.STALE: Bucket.SAVED,
    Outcome.RATE_LIMITED: Bucket.REFUSED,
    Outcome.CREDITS_EXHAUSTED: Bucket.REFUSED,
    Outcome.INVALID_KEY: Bucket.REFUSED,
    Outcome.MISSING_KEY: Bucket.REFUSED,
    Outcome.KEY_EXPIRED: Bucket.REFUSED,
    Outcome.ADDRESS_REFUSED: Bucket.REFUSED,
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


class CallLogHorizon(models.Model):
    """One row: the call log holds every call since ``before`` (None: since the start).

    ``prunecalls`` moves it forward before it deletes, so an interrupted prune never makes
    ``checkcounters`` or an export believe rows are there that are gone. Counters are
    never pruned: reports and the daily CSV cover every month for ever.
    """

    before = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "call log horizon"

    def __str__(self) -> str:
        return f"call log from {self.before:%Y-%m-%d %H:%M} UTC" if self.before else "full"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "CallLogHorizon":
        horizon, _ = cls.objects.get_or_create(pk=1)
        return horizon

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from usage.metering import windows

# How long before its expiry a key is flagged in the console and its owner emailed.
EXPIRY_NOTICE = timedelta(days=7)
# Per-key limits are stored in PositiveIntegerField; keep user input well inside it.
LIMIT_MAX = 2_000_000_000


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(deleted_at__isnull=True)


class ApiKey(models.Model):
    """A team member's Tollgate key: a label, a digest and optional per-key limits.

    The raw key is never stored. Deleting a key is a soft delete: the row stays, so its
    usage keeps reporting under its label, but it can never authenticate again.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit = models.PositiveIntegerField(
        "requests per minute",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(LIMIT_MAX)],
        help_text="Blank means the plan's own limit.",
    )
    monthly_credits = models.PositiveIntegerField(
        "monthly call credits",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(LIMIT_MAX)],
        help_text="Blank means the plan's own credits.",
    )
    expires_at = models.DateTimeField(
        "expires",
        null=True,
        blank=True,
        help_text="Calls are refused from this moment on. Blank: never.",
    )
    allowed_ips = models.TextField(
        "allowed addresses",
        blank=True,
        help_text="Client addresses and networks (CIDR) allowed to call, comma-separated. "
        "Blank: any address.",
    )
    # A rolled key's old value: it keeps authenticating until previous_valid_until.
    previous_digest = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )
    previous_prefix = models.CharField(max_length=16, blank=True, editable=False)
    previous_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    rolled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The expiry notice (usage.alerts.expiry): the expiry it went out for, and the claim of
    # the sender sending it (a lease, as for alert deliveries).
    expiry_notice_for = models.DateTimeField(null=True, blank=True, editable=False)
    expiry_notice_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                Lower("label"),
                condition=models.Q(deleted_at__isnull=True),
                name="apikey_unique_active_label_per_owner",
                violation_error_message="This owner already has an active key with this label.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.masked})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    @property
    def status(self) -> str:
        if not self.is_active:
            return "Deleted"
        return "Expired" if self.is_expired else "Active"

    # Read against Tollgate's clock (the proxy's), so tests that move it move these too.
    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= windows.utc_now()

    @property
    def expires_soon(self) -> bool:
        """Expiring within EXPIRY_NOTICE (7 days), not yet expired."""
        if self.expires_at is None or self.is_expired:
            return False
        return self.expires_at <= windows.utc_now() + EXPIRY_NOTICE

    @property
    def previous_works(self) -> bool:
        """Whether the value this key had before its last roll still authenticates."""
        return (
            self.previous_valid_until is not None and self.previous_valid_until > windows.utc_now()
        )

    @property
    def previous_masked(self) -> str:
        return f"{self.previous_prefix}…" if self.previous_prefix else ""

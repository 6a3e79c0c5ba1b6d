from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

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
        return "Active" if self.is_active else "Deleted"

"""Writes to API keys. Views, the admin and commands all go through these.

A key's own limits are the team's budget, not its owner's: only staff set them
(``key_set_limits``). Members rename their keys (``key_rename``). ``key_create`` and
``key_update`` take limits without asking who acts: they serve the operator's tools
(``createapikey``, tests, the demo), never a member's request.
"""

import unicodedata
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from keys import crypto
from keys.models import ApiKey
from keys.networks import allowlist_clean
from keys.selectors import key_label_taken
from usage.metering import windows

# How long a rolled key's old value keeps working: the choices of the console, the admin
# and ``rollapikey --grace``.
GRACE_PERIODS = {
    "0": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
PAST_EXPIRY = "Choose a moment in the future: the key would expire at once."

DUPLICATE_LABEL = "You already have an active key with this label."


def label_clean(label: str) -> str:
    """Strip a label and refuse what cannot be shown on one line of a table."""
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": "Give the key a label."})
    if len(label) > 100:
        raise ValidationError({"label": "Keep the label to 100 characters or fewer."})
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in label):
        raise ValidationError({"label": "The label cannot contain control characters."})
    return label


def _save_checked(key: ApiKey, **save_kwargs) -> None:
    """Validate the fields and save; the unique index settles a race between two saves."""
    key.full_clean(exclude=["owner"], validate_unique=False, validate_constraints=False)
    if key.is_active and key_label_taken(owner=key.owner, label=key.label, exclude_pk=key.pk):
        raise ValidationError({"label": DUPLICATE_LABEL})
    try:
        with transaction.atomic():
            key.save(**save_kwargs)
    except IntegrityError:
        raise ValidationError({"label": DUPLICATE_LABEL}) from None


def _clean_access(
    *, expires_at: datetime | None, allowed_ips: str, was: datetime | None = None
) -> tuple[datetime | None, str]:
    """An expiry (in the future, unless it is the one the key already has) and the
    canonical allowlist, or ValidationError by field."""
    errors = {}
    if expires_at is not None and expires_at != was and expires_at <= windows.utc_now():
        errors["expires_at"] = PAST_EXPIRY
    try:
        allowed_ips = allowlist_clean(allowed_ips)
    except ValidationError as exc:
        errors["allowed_ips"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return expires_at, allowed_ips


def key_create(
    *,
    owner,
    label: str,
    rate_limit: int | None = None,
    monthly_credits: int | None = None,
    expires_at: datetime | None = None,
    allowed_ips: str = "",
) -> tuple[ApiKey, str]:
    """Create a key for ``owner`` and return it with its raw value.

    The raw value exists only in the return value: show it once, then let it go. An
    expiry must lie in the future; the allowlist is stored in its canonical form.
    """
    label = label_clean(label)
    expires_at, allowed_ips = _clean_access(expires_at=expires_at, allowed_ips=allowed_ips)
    raw = crypto.generate_key()
    key = ApiKey(
        owner=owner,
        label=label,
        prefix=crypto.display_prefix(raw),
        digest=crypto.digest(raw),
        rate_limit=rate_limit,
        monthly_credits=monthly_credits,
        expires_at=expires_at,
        allowed_ips=allowed_ips,
    )
    _save_checked(key)
    return key, raw


def _check_active(key: ApiKey) -> None:
    if not key.is_active:
        raise ValidationError("A deleted key cannot be changed.")


def key_rename(*, key: ApiKey, label: str) -> ApiKey:
    """Change a key's label; its limits stay as staff set them."""
    _check_active(key)
    key.label = label_clean(label)
    _save_checked(key, update_fields=["label"])
    return key


def key_set_limits(
    *, key: ApiKey, by, rate_limit: int | None, monthly_credits: int | None
) -> ApiKey:
    """Set a key's own limits (None means the plan's). Only staff (``by``) may.

    Checked here and not only in the forms: a member who posts the fields by hand, or any
    future view that forgets, still cannot lift or clear a limit staff set.
    """
    if not by.is_staff:
        raise PermissionDenied("Only staff set a key's limits.")
    _check_active(key)
    key.rate_limit = rate_limit
    key.monthly_credits = monthly_credits
    _save_checked(key, update_fields=["rate_limit", "monthly_credits"])
    return key


def key_update(
    *,
    key: ApiKey,
    label: str,
    rate_limit: int | None,
    monthly_credits: int | None,
) -> ApiKey:
    """Change a key's label and its own limits (None means the plan's), for the operator's
    tools; a request goes through ``key_rename`` and ``key_set_limits``."""
    _check_active(key)
    key.label = label_clean(label)
    key.rate_limit = rate_limit
    key.monthly_credits = monthly_credits
    _save_checked(key, update_fields=["label", "rate_limit", "monthly_credits"])
    return key


def key_set_access(*, key: ApiKey, expires_at: datetime | None, allowed_ips: str) -> ApiKey:
    """Set when a key expires (None: never) and the client addresses it may call from
    (blank: any). The key's owner and staff may; a new expiry must lie in the future, an
    expiry already passed may stay as it is. Nothing changes when either is refused.
    """
    _check_active(key)
    key.expires_at, key.allowed_ips = _clean_access(
        expires_at=expires_at, allowed_ips=allowed_ips, was=key.expires_at
    )
    _save_checked(key, update_fields=["expires_at", "allowed_ips"])
    return key


def key_roll(*, key: ApiKey, grace: timedelta) -> tuple[ApiKey, str]:
    """Give ``key`` a new raw value and return it (shown once, like a new key's).

    The same row keeps its label, owner, limits, expiry, allowlist and history, so usage
    before and after the roll reads as one key's. The old value keeps authenticating for
    ``grace`` (0: it stops now). A value rolled away earlier and still in its grace stops
    at once: only the current value and the one before it ever work.
    """
    if grace < timedelta(0):
        raise ValidationError("The grace period cannot be negative.")
    raw = crypto.generate_key()
    now = windows.utc_now()
    with transaction.atomic():
        # The row locked (PostgreSQL) so two rolls at once cannot both keep "the old value".
        locked = ApiKey.objects.select_for_update().filter(pk=key.pk).first()
        if locked is None or not locked.is_active:
            raise ValidationError("A deleted key cannot be rolled.")
        changed = {
            "previous_digest": locked.digest,
            "previous_prefix": locked.prefix,
            "previous_valid_until": now + grace,
            "rolled_at": now,
            "digest": crypto.digest(raw),
            "prefix": crypto.display_prefix(raw),
        }
        ApiKey.objects.filter(pk=key.pk).update(**changed)
    for name, value in changed.items():
        setattr(key, name, value)
    return key, raw


def key_delete(*, key: ApiKey) -> bool:
    """Soft-delete a key: it never authenticates again, its history stays.

    Returns False when the key was already deleted (a double click, two tabs).
    """
    now = timezone.now()
    changed = ApiKey.objects.filter(pk=key.pk, deleted_at__isnull=True).update(deleted_at=now)
    if changed:
        key.deleted_at = now
    return bool(changed)


def keys_delete(*, queryset) -> int:
    """Soft-delete every active key in ``queryset``; returns how many were deleted."""
    return queryset.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())

"""Writes to API keys. Views, the admin and commands all go through these.

A key's own limits are the team's budget, not its owner's: only staff set them
(``key_set_limits``). Members rename their keys (``key_rename``). ``key_create`` and
``key_update`` take limits without asking who acts: they serve the operator's tools
(``createapikey``, tests, the demo), never a member's request.
"""

import unicodedata

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from keys import crypto
from keys.models import ApiKey
from keys.selectors import key_label_taken

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


def key_create(
    *,
    owner,
    label: str,
    rate_limit: int | None = None,
    monthly_credits: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``owner`` and return it with its raw value.

    The raw value exists only in the return value: show it once, then let it go.
    """
    raw = crypto.generate_key()
    key = ApiKey(
        owner=owner,
        label=label_clean(label),
        prefix=crypto.display_prefix(raw),
        digest=crypto.digest(raw),
        rate_limit=rate_limit,
        monthly_credits=monthly_credits,
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

"""Reads of API keys, with the access rule in one place.

A member sees only their own keys, staff see everyone's. Asking for a key one may not
see is answered like asking for one that does not exist (404), so key ids reveal nothing.
"""

from django.shortcuts import get_object_or_404

from keys.models import ApiKey


def keys_visible_to(user):
    qs = ApiKey.objects.active().select_related("owner")
    if not user.is_staff:
        qs = qs.filter(owner=user)
    return qs


def key_get_for_user(*, user, pk: int) -> ApiKey:
    return get_object_or_404(keys_visible_to(user), pk=pk)


def key_label_taken(*, owner, label: str, exclude_pk: int | None = None) -> bool:
    """Whether ``owner`` has another active key with this label, ignoring case."""
    qs = ApiKey.objects.active().filter(owner=owner, label__iexact=label)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()

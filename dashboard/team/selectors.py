"""Reads for the team page."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from dashboard.team.models import Invitation

User = get_user_model()


def members():
    """Everyone with an account, with their active keys counted; pending invitees apart."""
    return (
        User.objects.exclude(pk__in=Invitation.objects.filter(accepted_at=None).values("user_id"))
        .annotate(active_keys=Count("api_keys", filter=Q(api_keys__deleted_at__isnull=True)))
        .order_by("-is_active", "username")
    )


def pending_invitations():
    invitations = Invitation.objects.filter(accepted_at=None).select_related("user", "invited_by")
    for invitation in invitations:
        invitation.expires_at = invitation_expires_at(invitation)
    return invitations


def invitation_expires_at(invitation):
    """When the last link sent stops working (a resend starts a new one)."""
    sent = invitation.sent_at or invitation.created_at
    return sent + timedelta(days=settings.INVITE_VALID_DAYS)


def pending_invitation(pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.select_related("user"), pk=pk, accepted_at=None)


def member(pk: int):
    return get_object_or_404(User, pk=pk)

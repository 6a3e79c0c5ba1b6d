"""Writes for the team page: invite, resend, revoke, accept, deactivate, reactivate."""

import logging
import smtplib

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from dashboard.team.emails import invite_message
from dashboard.team.models import Invitation

logger = logging.getLogger(__name__)
User = get_user_model()


def member_invite(*, name: str, email: str, invited_by) -> Invitation:
    """Create the account of ``email`` (no password yet) and email it a link to set one.

    The username is the email address, which the invitee logs in with. The account and
    the invitation are committed before the email is tried: if the mail server is down,
    nothing is lost and staff can resend (``invitation.send_error`` says why).
    """
    email = User.objects.normalize_email(email.strip())
    if (
        User.objects.filter(email__iexact=email).exists()
        or User.objects.filter(username__iexact=email).exists()
    ):
        raise ValidationError("Someone on the team already has this email address.")
    first_name, _, last_name = name.strip().partition(" ")
    with transaction.atomic():
        user = User(
            username=email.lower()[:150],
            email=email,
            first_name=first_name[:150],
            last_name=last_name.strip()[:150],
        )
        user.set_unusable_password()
        user.save()
        invitation = Invitation.objects.create(
            user=user, invited_by=invited_by, created_at=timezone.now()
        )
    invitation_send(invitation=invitation)
    return invitation


def invitation_send(*, invitation: Invitation) -> bool:
    """Email the invitation (again); True if the mail server took it.

    A failure is recorded on the invitation and logged, never raised: the invitation stays
    listed with the reason, and "Resend" tries again.
    """
    try:
        invite_message(invitation).send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning(
            "team: could not email the invitation of user %s: %s", invitation.user_id, exc
        )
        invitation.send_error = f"{type(exc).__name__}: {exc}"[:300]
        invitation.save(update_fields=["send_error"])
        return False
    invitation.sent_at = timezone.now()
    invitation.send_error = ""
    invitation.save(update_fields=["sent_at", "send_error"])
    return True


def invitation_revoke(*, invitation: Invitation) -> None:
    """Withdraw a pending invitation: its link stops working at once.

    The account goes too, unless staff gave it keys meanwhile (their usage must stay in
    the reports): then it is deactivated instead, which also stops the link.
    """
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation was already used.")
    user = invitation.user
    with transaction.atomic():
        if user.api_keys.exists():
            invitation.delete()
            user.is_active = False
            user.save(update_fields=["is_active"])
        else:
            user.delete()  # the invitation with it


def invitation_accept(*, user) -> None:
    """The invitee set a password: the invitation is used and leaves the pending list."""
    Invitation.objects.filter(user=user, accepted_at=None).update(accepted_at=timezone.now())


def member_deactivate(*, member, by) -> None:
    """Stop ``member``: no more logins, and their keys get 401 on the very next call.

    The proxy reads the owner's ``is_active`` in the same query as the key
    (usage/metering/access.py), so nothing is cached to expire. Their keys and usage stay.
    """
    if member.pk == by.pk:
        raise ValidationError("You cannot deactivate your own account.")
    if member.is_superuser and not by.is_superuser:
        raise ValidationError("Only a superuser can deactivate a superuser.")
    member.is_active = False
    member.save(update_fields=["is_active"])


def member_reactivate(*, member) -> None:
    """Let ``member`` log in again; their keys work again at once."""
    member.is_active = True
    member.save(update_fields=["is_active"])

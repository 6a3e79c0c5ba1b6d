"""Expiry notices: one email to a key's owner when the key has 7 days left.

Sent by the alert sender (``sendalerts``), never the proxy. The key's row records it:
``expiry_notice_for`` holds the expiry a notice went out for, so an unchanged expiry is
announced once and a new one (the key edited) gets a notice of its own. A key given an
expiry less than 7 days away is announced at once.

Claimed like an alert delivery (usage/alerts/delivery.py): a conditional UPDATE of
``expiry_notice_claimed_at`` that exactly one of any racing senders wins, held as a lease.
A failed send (SMTP down) moves the lease so the key is tried again after ``RETRY``; a
sender killed between the SMTP server's "250 OK" and the row's update repeats that one
email after ``SENDING_LEASE``, as an alert would.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse

from keys.models import EXPIRY_NOTICE, ApiKey
from usage.metering import windows

logger = logging.getLogger(__name__)

SENDING_LEASE = timedelta(minutes=10)  # as an alert delivery's: far above EMAIL_TIMEOUT
RETRY = timedelta(minutes=5)  # after a failed send; the notice is a week early, no hurry


def _unclaimed(queryset, now: datetime):
    """Keys whose current expiry has had no notice and that no sender holds."""
    return queryset.exclude(expiry_notice_for=F("expires_at")).exclude(
        expiry_notice_claimed_at__gt=now - SENDING_LEASE
    )


def _due(now: datetime):
    """Active keys of active owners with an address, expiring within the week, with no
    notice for their current expiry and no sender holding one."""
    keys = ApiKey.objects.active().filter(
        expires_at__gt=now, expires_at__lte=now + EXPIRY_NOTICE, owner__is_active=True
    )
    return _unclaimed(keys.exclude(owner__email=""), now)


def _claim(key: ApiKey, now: datetime) -> bool:
    """True for exactly one of any racing senders, and only for the expiry read.

    Conditions on the key's own row only: PostgreSQL re-checks those against the row a
    racing sender just committed, but a join (the owner) would be run as a subquery on
    the statement's snapshot, which still shows the key unclaimed, and both would send.
    """
    row = ApiKey.objects.filter(pk=key.pk, expires_at=key.expires_at, deleted_at__isnull=True)
    return _unclaimed(row, now).update(expiry_notice_claimed_at=now) == 1


def _send(key: ApiKey) -> None:
    context = {
        "key": key,
        "keys_url": settings.CONSOLE_URL.rstrip("/") + reverse("keys:list"),
    }
    subject = " ".join(render_to_string("emails/key-expiry-subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/key-expiry-body.txt", context),
        to=[key.owner.email],
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.attach_alternative(
        render_to_string("emails/key-expiry-body.html", context), "text/html"
    )
    message.send()


def _record_sent(key: ApiKey) -> None:
    """Sent: this write must land, or the notice would go again after its lease. A
    database hiccup right now gets a few quick retries, as an alert's "sent" does."""
    for pause in (0.05, 0.2, 1.0, None):
        try:
            ApiKey.objects.filter(pk=key.pk).update(
                expiry_notice_for=key.expires_at, expiry_notice_claimed_at=None
            )
            return
        except DatabaseError:
            if pause is None:
                raise
            time.sleep(pause)


def expiry_notices_send(*, now: datetime | None = None, should_stop=lambda: False) -> int:
    """Email every owner whose key expires within 7 days and has not been told about
    that expiry yet. Returns how many notices went out."""
    now = now or windows.utc_now()
    sent = 0
    for key in list(_due(now).select_related("owner").order_by("expires_at", "pk")):
        if should_stop():
            break
        if not _claim(key, now):
            continue
        try:
            _send(key)
        except Exception as exc:  # SMTP down, refused, timed out
            logger.warning(
                "expiry notice: email to %s about key %s failed, retrying in %ss: %s: %s",
                key.owner.email,
                key.masked,
                int(RETRY.total_seconds()),
                type(exc).__name__,
                exc,
            )
            # The lease now ends RETRY from now: the key is due again then.
            ApiKey.objects.filter(pk=key.pk).update(
                expiry_notice_claimed_at=now - SENDING_LEASE + RETRY
            )
            continue
        _record_sent(key)
        logger.info("expiry notice: sent to %s about key %s", key.owner.email, key.masked)
        sent += 1
    return sent

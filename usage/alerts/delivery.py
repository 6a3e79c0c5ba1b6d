"""Sending alerts: each delivery claimed by one sender, sent, retried with backoff.

Runs in the ``sendalerts`` command, never in the proxy. Sending a delivery starts with
``UPDATE ... SET state='sending' WHERE state='pending'`` and goes on only if that changed
exactly one row (healthchecks' ``sendalerts`` pattern). A failed send goes back to
``pending`` with a later ``next_attempt_at`` (exponential backoff), so SMTP being down
delays an alert and never loses it.

The one window this cannot close: a sender killed (SIGKILL, power loss) between the
SMTP server's "250 OK" and our ``state='sent'`` write. Such a delivery stays "sending";
after ``SENDING_LEASE`` it is tried again, which can repeat that one email. A clean stop
(SIGTERM) finishes the delivery in hand first, so ordinary restarts never repeat one.
"""

import json
import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse

from usage.alerts.detection import alerts_detect
from usage.alerts.expiry import expiry_notices_send
from usage.metering import windows
from usage.models import PLAN_REF, Alert, AlertDelivery

logger = logging.getLogger(__name__)

SENDING_LEASE = timedelta(minutes=10)  # far above EMAIL_TIMEOUT and WEBHOOK_TIMEOUT
BACKOFF_FIRST = 10  # seconds before the first retry; doubles up to BACKOFF_MAX
BACKOFF_MAX = 600
WEBHOOK_TIMEOUT = 10


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 10 s, 20 s, 40 s ... at most 10 minutes."""
    return timedelta(seconds=min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take one due delivery for this sender. True for exactly one of any racing senders."""
    due = AlertDelivery.objects.filter(pk=delivery_id, next_attempt_at__lte=now)
    claimed = due.filter(state=AlertDelivery.State.PENDING).update(
        state=AlertDelivery.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if claimed == 1:
        return True
    # A sender that died mid-send left it "sending"; take it over after the lease.
    return (
        due.filter(state=AlertDelivery.State.SENDING, claimed_at__lt=now - SENDING_LEASE).update(
            claimed_at=now, attempts=F("attempts") + 1
        )
        == 1
    )


def alert_context(alert: Alert) -> dict:
    base = settings.CONSOLE_URL.rstrip("/")
    is_plan = alert.scope == PLAN_REF
    return {
        "alert": alert,
        "is_plan": is_plan,
        "name": alert.details.get("scope_name", ""),
        "plan_name": alert.details.get("plan_name", ""),
        "top_keys": alert.details.get("top_keys", []),
        "at_limit": alert.threshold >= 100,
        "report_url": base + reverse("usage:report"),
        "settings_url": base + reverse("usage:settings"),
    }


def alert_text(alert: Alert) -> str:
    """The one-line summary: the webhook's ``text`` (Slack shows it as the message)."""
    return render_to_string("emails/alert-subject.txt", alert_context(alert)).strip()


def _send_email(delivery: AlertDelivery) -> None:
    context = alert_context(delivery.alert)
    subject = " ".join(render_to_string("emails/alert-subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/alert-body.txt", context),
        to=[delivery.target],
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.attach_alternative(render_to_string("emails/alert-body.html", context), "text/html")
    message.send()


def _send_webhook(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    context = alert_context(alert)
    payload = {
        "text": f"{alert_text(alert)}\n{render_to_string('emails/alert-body.txt', context)}",
        "scope": "plan" if alert.scope == PLAN_REF else "key",
        "name": context["name"],
        "month": alert.month.isoformat(),
        "threshold": alert.threshold,
        "calls": alert.calls,
        "credits": alert.credits,
        "remaining": alert.remaining,
        "overage": alert.overage,
        "report_url": context["report_url"],
    }
    response = requests.post(
        delivery.target,
        data=json.dumps(payload),
        headers={"Content-Type": "application/json"},
        timeout=WEBHOOK_TIMEOUT,
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise OSError(f"webhook answered HTTP {response.status_code}")


def _redacted(delivery: AlertDelivery, text: str) -> tuple[str, str]:
    """Where a delivery goes and an error about it, safe to log and to store.

    A webhook URL's path is often its secret (Slack's are), and requests' errors quote
    it: only the scheme and host are kept.
    """
    if delivery.channel != AlertDelivery.Channel.WEBHOOK:
        return delivery.target, text
    parts = urlsplit(delivery.target)
    where = f"{parts.scheme}://{parts.netloc}/…"
    for hidden in (delivery.target, parts.path):
        if len(hidden) > 1:
            text = text.replace(hidden, "/…")
    return where, text


def _deliver(delivery: AlertDelivery, now: datetime) -> bool:
    send = _send_email if delivery.channel == AlertDelivery.Channel.EMAIL else _send_webhook
    try:
        send(delivery)
    except Exception as exc:  # SMTP down, refused, timed out; webhook unreachable or 5xx
        wait = backoff(delivery.attempts)
        where, error = _redacted(delivery, f"{type(exc).__name__}: {exc}")
        logger.warning(
            "alert: %s to %s failed (attempt %s), retrying in %ss: %s",
            delivery.channel,
            where,
            delivery.attempts,
            int(wait.total_seconds()),
            error,
        )
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            state=AlertDelivery.State.PENDING,
            next_attempt_at=now + wait,
            last_error=error[:1000],
        )
        return False
    # Sent: this write must land, or the delivery would be sent again after its lease. A
    # database hiccup right now gets a few quick retries before we give up on it.
    for pause in (0.05, 0.2, 1.0, None):
        try:
            AlertDelivery.objects.filter(pk=delivery.pk).update(
                state=AlertDelivery.State.SENT, sent_at=windows.utc_now(), last_error=""
            )
            return True
        except DatabaseError:
            if pause is None:
                raise
            time.sleep(pause)
    return True


def deliveries_send(*, now: datetime | None = None, should_stop=lambda: False) -> int:
    """Send every due delivery this sender can claim. Returns how many went out."""
    now = now or windows.utc_now()
    due = AlertDelivery.objects.filter(next_attempt_at__lte=now).filter(
        state__in=[AlertDelivery.State.PENDING, AlertDelivery.State.SENDING]
    )
    sent = 0
    for delivery_id in list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)):
        if should_stop():
            break
        if not _claim(delivery_id, now):
            continue  # another sender has it, or it is still within its lease
        delivery = AlertDelivery.objects.select_related("alert").get(pk=delivery_id)
        sent += _deliver(delivery, now)
    return sent


def alerts_run_once(*, now: datetime | None = None, should_stop=lambda: False) -> int:
    """One pass of the sender: detect new crossings, send what is due, then the notices
    of keys about to expire (usage.alerts.expiry). Returns how many emails and posts
    went out."""
    alerts_detect(now=now)
    sent = deliveries_send(now=now, should_stop=should_stop)
    return sent + expiry_notices_send(now=now, should_stop=should_stop)

"""Detecting crossed thresholds: each crossing recorded once, its deliveries queued with it.

Detecting a crossing means inserting ``Alert(scope, month, threshold)``, which a unique
constraint allows once. The insert and its ``AlertDelivery`` rows (one per recipient,
one for the webhook) share a transaction, so a crossing is either fully queued or not
at all, and whoever loses the insert race queues nothing. Reads the month counters
(``MonthUsage``, a handful of rows), never the call log.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F

from keys.models import ApiKey
from usage.metering import windows
from usage.metering.totals import month_totals
from usage.models import PLAN_REF, Alert, AlertDelivery, MonthUsage, Plan

logger = logging.getLogger(__name__)

TOP_KEYS = 5


@dataclass(frozen=True)
class Scope:
    ref: int  # PLAN_REF or a key's id
    name: str
    credits: int
    calls: int
    emails: tuple[str, ...]
    webhook: str


def _staff_emails() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    return list(users.order_by("pk").values_list("email", flat=True))


def _scopes(plan: Plan, now: datetime) -> list[Scope]:
    """The plan and every active key with its own credits, with this month's calls."""
    keys = list(
        ApiKey.objects.active()
        .filter(monthly_credits__isnull=False)
        .select_related("owner")
        .only("pk", "label", "monthly_credits", "owner__email", "owner__is_active")
    )
    totals = month_totals(key_refs=[PLAN_REF, *(key.pk for key in keys)], now=now)
    calls = {ref: used + overage for ref, (used, overage) in totals.items()}
    emails = []
    for address in [*_staff_emails(), *plan.recipient_list]:
        if address.lower() not in (e.lower() for e in emails):
            emails.append(address)
    scopes = [
        Scope(
            PLAN_REF,
            plan.name,
            plan.monthly_credits,
            calls.get(PLAN_REF, 0),
            tuple(emails),
            plan.webhook_url,
        )
    ]
    for key in keys:
        owner = key.owner
        scopes.append(
            Scope(
                key.pk,
                key.label,
                key.monthly_credits,
                calls.get(key.pk, 0),
                (owner.email,) if owner.email and owner.is_active else (),
                "",  # a key's own alert is its owner's business, not the team channel's
            )
        )
    return scopes


def _top_keys(month) -> list[dict]:
    rows = (
        MonthUsage.objects.filter(month=month)
        .exclude(key_ref=PLAN_REF)
        .annotate(calls=F("credits_used") + F("overage_calls"))
        .filter(calls__gt=0)
        .order_by("-calls", "key_ref")[:TOP_KEYS]
    )
    rows = list(rows)
    keys = ApiKey.objects.select_related("owner").in_bulk([row.key_ref for row in rows])
    top = []
    for row in rows:
        key = keys.get(row.key_ref)
        top.append(
            {
                "label": key.label if key else f"key {row.key_ref}",
                "prefix": key.prefix if key else "",
                "owner": key.owner.get_username() if key else "",
                "calls": row.calls,
            }
        )
    return top


def alerts_detect(*, now: datetime | None = None) -> list[Alert]:
    """Record every newly crossed threshold and queue its deliveries: one email each.

    A burst that passes 50 % and 75 % between two scans sends both, lowest first. Only a
    threshold below one already announced this month (the list was changed mid-month)
    is recorded as superseded instead of announcing a level long passed. Returns the
    alerts this call created.
    """
    now = now or windows.utc_now()
    plan = Plan.load()
    if not plan.alerts_enabled:
        return []
    month = windows.month_start(now)
    thresholds = plan.threshold_list
    created = []
    scopes = _scopes(plan, now)
    if not any(scope.calls for scope in scopes):
        return []
    known = set(
        Alert.objects.filter(month=month, scope__in=[s.ref for s in scopes]).values_list(
            "scope", "threshold"
        )
    )
    top = None
    for scope in scopes:
        crossed = [t for t in thresholds if scope.calls * 100 >= t * scope.credits]
        if not crossed:
            continue
        # Changing the threshold list mid-month must not announce a level long passed.
        already = max((t for (ref, t) in known if ref == scope.ref), default=0)
        new = [t for t in crossed if (scope.ref, t) not in known]
        if not new:
            continue
        if top is None:
            top = _top_keys(month)
        for threshold in sorted(new):
            deliver = threshold > already
            alert = _alert_insert(scope, month, threshold, plan, now, top, deliver)
            if alert is not None:
                created.append(alert)
    return created


def _alert_insert(scope, month, threshold, plan, now, top, deliver) -> Alert | None:
    """Insert the alert and its deliveries, or nothing if another sender was first."""
    details = {
        "scope_name": scope.name,
        "plan_name": plan.name,
        "top_keys": top if scope.ref == PLAN_REF else [],
    }
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                scope=scope.ref,
                month=month,
                threshold=threshold,
                state=Alert.State.SENT if deliver else Alert.State.SUPERSEDED,
                created_at=now,
                calls=scope.calls,
                credits=scope.credits,
                overage=plan.overage,
                details=details,
            )
            if deliver:
                rows = [
                    AlertDelivery(
                        alert=alert,
                        channel=AlertDelivery.Channel.EMAIL,
                        target=address,
                        next_attempt_at=now,
                    )
                    for address in scope.emails
                ]
                if scope.webhook:
                    rows.append(
                        AlertDelivery(
                            alert=alert,
                            channel=AlertDelivery.Channel.WEBHOOK,
                            target=scope.webhook,
                            next_attempt_at=now,
                        )
                    )
                AlertDelivery.objects.bulk_create(rows)
    except IntegrityError:
        return None  # another sender recorded this crossing first: it owns it
    logger.info(
        "alert: %s crossed %s%% (%s deliveries)",
        scope.name,
        threshold,
        "queued" if deliver else "no",
    )
    return alert

"""Writes to the plan and its alert settings. (Counters are written by the ledger.)

Every change goes through ``plan_update``, from the settings page, the admin and
``setplan`` alike, so each one leaves a ``PlanChange`` row saying who changed what.
"""

import json

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from usage.cache import policy
from usage.models import Plan, PlanChange
from usage.proxy.endpoints import endpoint_name

# Percent of the monthly credits. Above 100 only overage calls could reach it, which the
# 100 % alert already announces.
THRESHOLD_MIN, THRESHOLD_MAX = 1, 100
MAX_THRESHOLDS = 10
MAX_RECIPIENTS = 50


def thresholds_parse(value: str | list) -> str:
    """``"90, 50,75"`` → ``"50,75,90"``; a ValidationError says what is wrong."""
    parts = value if isinstance(value, list) else str(value).replace(" ", "").split(",")
    parts = [str(part).strip() for part in parts if str(part).strip()]
    if not parts:
        raise ValidationError("Give at least one threshold, e.g. 50,75,90,100.")
    numbers = set()
    for part in parts:
        try:
            number = int(part.rstrip("%"))
        except ValueError:
            raise ValidationError(f"“{part}” is not a whole number of percent.") from None
        if not THRESHOLD_MIN <= number <= THRESHOLD_MAX:
            raise ValidationError(
                f"{number} is out of range: thresholds are {THRESHOLD_MIN} to {THRESHOLD_MAX} %."
            )
        numbers.add(number)
    if len(numbers) > MAX_THRESHOLDS:
        raise ValidationError(f"At most {MAX_THRESHOLDS} thresholds.")
    return ",".join(str(n) for n in sorted(numbers))


def recipients_parse(value: str | list) -> str:
    """Comma-, space- or line-separated addresses → ``"a@x,b@y"`` (deduplicated, in order)."""
    if isinstance(value, list):
        parts = value
    else:
        parts = str(value).replace(";", ",").replace("\n", ",").replace(" ", ",").split(",")
    seen: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            validate_email(part)
        except ValidationError:
            raise ValidationError(f"“{part}” is not an email address.") from None
        if part.lower() not in (s.lower() for s in seen):
            seen.append(part)
    if len(seen) > MAX_RECIPIENTS:
        raise ValidationError(f"At most {MAX_RECIPIENTS} extra recipients.")
    return ",".join(seen)


def webhook_clean(value: str) -> str:
    value = (value or "").strip()
    if value:
        URLValidator(schemes=["http", "https"])(value)
    return value


def cache_ttls_parse(value: str, current: str = "") -> str:
    """``"/simple/price=10, /global=0"`` over ``current`` (the stored JSON) → the new JSON.

    Endpoints are named as in the usage report (``/coins/{id}``; ``/coins/bitcoin`` means
    the same); 0 turns caching off for one; a value equal to the default drops staff's own.
    """
    table = dict(policy.overrides(current))
    for part in str(value).replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        endpoint, sep, seconds = part.partition("=")
        endpoint = endpoint.strip()
        if not sep or not endpoint.startswith("/"):
            raise ValidationError(f"“{part}” is not ENDPOINT=SECONDS, e.g. /simple/price=20.")
        seconds = seconds.strip()
        try:
            number = int(seconds)
        except ValueError:
            raise ValidationError(f"“{seconds}” is not a whole number of seconds.") from None
        if not 0 <= number <= policy.TTL_MAX:
            raise ValidationError(f"{number} is out of range: 0 to {policy.TTL_MAX} seconds.")
        name = endpoint_name(endpoint)
        if name in ("/ping", "/key"):
            raise ValidationError(f"{name} is answered by Tollgate itself and never cached.")
        if number == policy.ttl_for(name, ""):  # the default: nothing of staff's own
            table.pop(name, None)
        else:
            table[name] = number
    return json.dumps(dict(sorted(table.items())), separators=(",", ":")) if table else ""


def _shown(field: str, value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def plan_update(
    *,
    actor=None,
    source: str = "",
    name: str | None = None,
    monthly_credits: int | None = None,
    rate_limit: int | None = None,
    overage: bool | None = None,
    alerts_enabled: bool | None = None,
    thresholds: str | list | None = None,
    recipients: str | list | None = None,
    webhook_url: str | None = None,
    cache_enabled: bool | None = None,
    cache_ttls: str | None = None,
) -> Plan:
    """Change the fields given (None leaves a field as it is), validate, record each change.

    ``actor`` is the user making the change; ``source`` names it when there is none
    (``"setplan"``). ``cache_ttls`` is ``ENDPOINT=SECONDS,...`` over the stored times.
    Raises ValidationError keyed by field; nothing is saved then.
    """
    changes, errors = _parsed(
        name=name,
        monthly_credits=monthly_credits,
        rate_limit=rate_limit,
        overage=overage,
        alerts_enabled=alerts_enabled,
        thresholds=thresholds,
        recipients=recipients,
        webhook_url=webhook_url,
        cache_enabled=cache_enabled,
    )
    with transaction.atomic():
        # The row lock makes two admins' concurrent edits record "from" values truthfully.
        Plan.load()
        plan = Plan.objects.select_for_update().get(pk=1)
        if cache_ttls is not None:
            try:
                changes["cache_ttls"] = cache_ttls_parse(cache_ttls, plan.cache_ttls)
            except ValidationError as exc:
                errors["cache_ttls"] = exc.messages
        before = {field: getattr(plan, field) for field in changes}
        for field, value in changes.items():
            setattr(plan, field, value)
        try:
            plan.full_clean()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, messages)
        if not plan.name:
            errors.setdefault("name", ["The plan needs a name."])
        if errors:
            raise ValidationError(errors)
        changed = [field for field in changes if before[field] != getattr(plan, field)]
        if changed:
            plan.save()
            _record(plan, before, changed, actor=actor, source=source)
    return plan


def _parsed(*, name, thresholds, recipients, webhook_url, **values) -> tuple[dict, dict]:
    """The fields given (not None), parsed: ({field: value}, {field: error messages})."""
    changes = {field: value for field, value in values.items() if value is not None}
    if name is not None:
        changes["name"] = name.strip()
    errors = {}
    for field, parse, value in (
        ("thresholds", thresholds_parse, thresholds),
        ("recipients", recipients_parse, recipients),
        ("webhook_url", webhook_clean, webhook_url),
    ):
        if value is None:
            continue
        try:
            changes[field] = parse(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    return changes, errors


def _record(plan: Plan, before: dict, changed: list[str], *, actor, source: str) -> None:
    """One PlanChange row per changed field."""
    who = actor.get_username() if actor is not None else (source or "system")
    PlanChange.objects.bulk_create(
        PlanChange(
            user=actor,
            actor=who,
            field=field,
            old=_shown(field, before[field]),
            new=_shown(field, getattr(plan, field)),
        )
        for field in changed
    )

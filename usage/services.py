"""Writes to the plan. (Calls and counters are written by the ledger, on the hot path.)"""

from django.core.exceptions import ValidationError

from usage.models import Plan


def plan_update(
    *,
    name: str | None = None,
    monthly_credits: int | None = None,
    rate_limit: int | None = None,
    overage: bool | None = None,
) -> Plan:
    """Change the fields given (None leaves a field as it is) and validate the result."""
    plan = Plan.load()
    changes = {
        "name": name.strip() if name is not None else None,
        "monthly_credits": monthly_credits,
        "rate_limit": rate_limit,
        "overage": overage,
    }
    for field, value in changes.items():
        if value is not None:
            setattr(plan, field, value)
    plan.full_clean()
    if not plan.name:
        raise ValidationError({"name": "The plan needs a name."})
    plan.save()
    return plan

"""Reads of usage: counters only, never a scan of the call log."""

from datetime import datetime

from usage import windows
from usage.models import PLAN_REF, MonthUsage


def month_totals(*, key_refs: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """{key_ref: (credits used, overage calls)} this UTC month; absent refs used nothing."""
    rows = MonthUsage.objects.filter(key_ref__in=key_refs, month=windows.month_start(now))
    return {row.key_ref: (row.credits_used, row.overage_calls) for row in rows}


def key_status(*, key, plan, now: datetime) -> dict:
    """CoinGecko's ``/key`` body from Tollgate's ledger: five plan fields, three key fields."""
    totals = month_totals(key_refs=[PLAN_REF, key.pk], now=now)
    plan_used, plan_overage = totals.get(PLAN_REF, (0, 0))
    key_used, key_overage = totals.get(key.pk, (0, 0))
    return {
        "plan": plan.name,
        "rate_limit_request_per_minute": plan.rate_limit,
        "monthly_call_credit": plan.monthly_credits,
        "current_total_monthly_calls": plan_used + plan_overage,
        "current_remaining_monthly_calls": max(0, plan.monthly_credits - plan_used),
        "api_key_rate_limit_request_per_minute": min(
            key.rate_limit or plan.rate_limit, plan.rate_limit
        ),
        "api_key_monthly_call_credit": min(
            key.monthly_credits or plan.monthly_credits, plan.monthly_credits
        ),
        "api_key_current_total_monthly_calls": key_used + key_overage,
    }

"""The two endpoints Tollgate answers itself, as CoinGecko would: /ping and /key.

They cost no credit (they still count against the per-minute limit); /key is CoinGecko's
body filled from Tollgate's ledger.
"""

from datetime import datetime

from django.http import HttpResponse

from usage.metering.access import KeyLimits, PlanLimits, effective
from usage.metering.totals import month_totals
from usage.models import PLAN_REF
from usage.proxy.errors import json_response

ENDPOINTS = ("ping", "key")
PING_BODY = b'{"gecko_says":"(V3) To the Moon!"}'


def answer(endpoint: str, *, key: KeyLimits, plan: PlanLimits, now: datetime) -> HttpResponse:
    if endpoint == "ping":
        return HttpResponse(PING_BODY, content_type="application/json")
    return json_response(200, key_status(key=key, plan=plan, now=now))


def key_status(*, key: KeyLimits, plan: PlanLimits, now: datetime) -> dict:
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
        "api_key_rate_limit_request_per_minute": effective(key.rate_limit, plan.rate_limit),
        "api_key_monthly_call_credit": effective(key.monthly_credits, plan.monthly_credits),
        "api_key_current_total_monthly_calls": key_used + key_overage,
    }

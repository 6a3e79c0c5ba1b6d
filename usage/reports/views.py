"""The console's "API Usage Report": this month's figures, a live minute, and the history.

Everything here reads counters (month, hour and minute), never the call log.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from keys.selectors import keys_visible_to
from usage.metering import retention, windows
from usage.metering.limiters import calls_this_minute, redis_away
from usage.models import PLAN_REF, Plan
from usage.reports.charts import day_bars
from usage.reports.export import csv_response, export_filename, stream_csv
from usage.reports.forms import ExportForm, UsageFilterForm
from usage.reports.periods import period_for_timeframe
from usage.reports.selectors import (
    keyless_this_month,
    month_report,
    requests_by_key,
    team_refs,
    usage_breakdowns,
    usage_by_day,
)


@login_required
@require_GET
def report(request):
    now = windows.utc_now()
    plan = Plan.load()
    keys = list(keys_visible_to(request.user))
    plan_row, key_rows = month_report(keys=keys, plan=plan, now=now)
    month = period_for_timeframe("this_month", now)
    days = usage_by_day(key_refs=team_refs(), period=month, now=now)
    plan_row.requests = sum(day.calls for day in days)
    plan_row.saved = sum(day.saved for day in days)
    requests = requests_by_key(key_refs=[row.key.pk for row in key_rows], period=month, now=now)
    for row in key_rows:
        row.requests, row.saved = requests.get(row.key.pk, (0, 0))
    context = {
        "plan": plan,
        "plan_row": plan_row,
        "key_rows": key_rows,
        "month": month,
        "chart": day_bars(days),
        "live": _live_context(request, keys, now),
        "keyless": keyless_this_month(now),
    }
    return render(request, "usage/report.html", context)


def _live_context(request, keys, now) -> dict:
    counts = calls_this_minute(key_refs=[PLAN_REF, *(key.pk for key in keys)], now=now)
    return {
        "plan_calls": counts[PLAN_REF],
        "keys": [(key, counts[key.pk]) for key in keys],
        "at": now,
        # Read after the counts: reading them is what may find Redis gone.
        "redis_away": redis_away(),
    }


@login_required
@require_GET
def live(request):
    """The "calls this minute" figures, polled by htmx every few seconds."""
    keys = list(keys_visible_to(request.user))
    context = {"plan": Plan.load(), "live": _live_context(request, keys, windows.utc_now())}
    return render(request, "usage/_live.html", context)


@login_required
@require_GET
def history(request):
    form = UsageFilterForm(request.GET or None, user=request.user)
    context = {"form": form, "query": request.GET.urlencode(), "time_zone": settings.TIME_ZONE}
    if not request.GET:
        form = UsageFilterForm({"timeframe": "this_month"}, user=request.user)
        context["form"] = form
    if form.is_valid():
        period = form.cleaned_data["period"]
        refs = [key.pk for key in form.cleaned_data["selected_keys"]]
        days = usage_by_day(key_refs=refs, period=period, now=form.now)
        context.update(
            period=period,
            days=days,
            chart=day_bars(days),
            totals=_sum_days(days),
            breakdowns=usage_breakdowns(key_refs=refs, period=period, now=form.now),
            selected_keys=form.cleaned_data["selected_keys"],
            log_horizon=_cut_short(period),
            retention_days=settings.CALL_LOG_RETENTION_DAYS,
        )
    template = "usage/_history.html" if request.htmx else "usage/history.html"
    return render(request, template, context)


def _cut_short(period):
    """Since when the call log holds the period's calls, if the retention cut it short."""
    horizon = retention.horizon()
    return horizon if horizon is not None and period.start < horizon else None


def _sum_days(days) -> dict:
    fields = (
        "calls",
        "credits",
        "overage_calls",
        "ok",
        "saved",
        "errors",
        "rate_limited",
        "refused",
    )
    return {field: sum(getattr(day, field) for day in days) for field in fields}


@login_required
@require_GET
def usage_export(request):
    """The history page's selection as a CSV download (``granularity=day`` or ``call``)."""
    form = ExportForm(request.GET, user=request.user)
    if not form.is_valid():
        return HttpResponseBadRequest(
            "Cannot export this selection.\n" + form.errors.as_text() + "\n",
            content_type="text/plain; charset=utf-8",
        )
    period, granularity = form.cleaned_data["period"], form.cleaned_data["granularity"]
    chunks = stream_csv(
        keys=form.cleaned_data["selected_keys"], period=period, granularity=granularity
    )
    filename = export_filename(period, granularity, retention.horizon())
    return csv_response(chunks, filename=filename)

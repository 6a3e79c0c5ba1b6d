"""The console's "API Usage Report": this month's figures, a live minute, and the history.

Everything here reads counters (month, hour and minute), never the call log.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from keys.selectors import keys_visible_to
from usage.metering import retention, windows
from usage.metering.limiters import calls_this_minute, redis_away
from usage.models import PLAN_REF, Outcome, Plan
from usage.reports.charts import day_bars, key_bars
from usage.reports.export import csv_response, export_filename, has_rows, stream_csv
from usage.reports.forms import ExportForm, UsageFilterForm
from usage.reports.periods import DEFAULT_TIMEFRAME, period_for_timeframe, team_zone
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
    days = _until_today(usage_by_day(key_refs=team_refs(), period=month, now=now), now)
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
        "days": days,
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
    """The history page, and for htmx its results alone.

    A valid filter that came with empty or overruled fields (a plain form post sends every
    field) is answered with a redirect to its short URL; htmx is told which URL to show.
    """
    form = UsageFilterForm(request.GET or None, user=request.user)
    if not form.is_bound:
        form = UsageFilterForm(QueryDict(f"timeframe={DEFAULT_TIMEFRAME}"), user=request.user)
    context = {"form": form, "time_zone": settings.TIME_ZONE}
    if form.is_valid():
        query = form.canonical_query()
        if request.GET and not request.htmx and _differs(request.GET, query):
            return redirect(f"{request.path}?{query}")
        context.update(_history_results(form), query=query)
    if not request.htmx:
        return render(request, "usage/history.html", context)
    response = render(request, "usage/_history_results.html", context)
    if form.is_valid():
        return push_url(response, f"{request.path}?{context['query']}")
    return push_url(response, False)


def _differs(given: QueryDict, query: str) -> bool:
    def pairs(data):
        return sorted((name, value) for name, values in data.lists() for value in values)

    return pairs(given) != pairs(QueryDict(query))


def _history_results(form) -> dict:
    period = form.cleaned_data["period"]
    keys = form.cleaned_data["selected_keys"]
    refs = [key.pk for key in keys]
    split = len(keys) > 1
    days = usage_by_day(key_refs=refs, period=period, now=form.now, split_by_key=split)
    days = _until_today(days, form.now)
    breakdowns = usage_breakdowns(key_refs=refs, period=period, now=form.now)
    return {
        "period": period,
        "days": days,
        "chart": key_bars(days, keys) if split else day_bars(days),
        "totals": _sum_days(days),
        "breakdowns": _breakdown_tables(breakdowns, keys),
        "selected_keys": keys,
        "log_horizon": _cut_short(period),
        "retention_days": settings.CALL_LOG_RETENTION_DAYS,
    }


def _until_today(days, now):
    """Days that have begun: "this month" draws no future days as zeros."""
    today = now.astimezone(team_zone()).date()
    return [day for day in days if day.day <= today]


def _breakdown_tables(breakdowns: dict, keys) -> list[dict]:
    """The by-key, by-endpoint and by-outcome tables in words a person reads."""
    names = {
        "key": {key.pk: _key_name(key) for key in keys},
        "outcome": {value: label[:1].upper() + label[1:] for value, label in Outcome.choices},
    }
    tables = []
    for field in ("key", "endpoint", "outcome"):
        rows = [
            {
                "name": names.get(field, {}).get(row[field], row[field]),
                "calls": row["calls"],
                "credits_used": row["credits"] + row["overage_calls"],
                "saved": row["saved"],
            }
            for row in breakdowns[field]
        ]
        tables.append({"name": field, "rows": rows})
    return tables


def _key_name(key) -> str:
    return f"{key.label} ({key.masked}{', deleted' if not key.is_active else ''})"


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
    totals = {field: sum(getattr(day, field) for day in days) for field in fields}
    totals["requests"] = totals["calls"]
    totals["credits_used"] = totals["credits"] + totals["overage_calls"]
    return totals


@login_required
@require_GET
def usage_export(request):
    """The history page's selection as a CSV download (``granularity=day`` or ``call``)."""
    form = ExportForm(request.GET, user=request.user)
    if not form.is_valid():
        # The history page with the form's errors: a person followed a link that is wrong.
        context = {"form": form, "time_zone": settings.TIME_ZONE}
        return render(request, "usage/history.html", context, status=400)
    period, granularity = form.cleaned_data["period"], form.cleaned_data["granularity"]
    keys = form.cleaned_data["selected_keys"]
    if not has_rows(keys=keys, period=period):
        context = {"form": form, "time_zone": settings.TIME_ZONE, "nothing_to_export": True}
        context.update(_history_results(form), query=form.canonical_query())
        return render(request, "usage/history.html", context)
    chunks = stream_csv(keys=keys, period=period, granularity=granularity)
    filename = export_filename(period, granularity, retention.horizon())
    return csv_response(chunks, filename=filename)

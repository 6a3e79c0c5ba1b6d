"""Closed days come from the day cache: the figures must be the same as from the hours."""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.support import record_call
from usage.models import CachedDay, DayUsage
from usage.reports.selectors import usage_breakdowns, usage_by_day

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)


def days_of(client, **params) -> dict[str, int]:
    response = client.get(reverse("usage:history"), params)
    assert response.status_code == 200
    return {day.day.isoformat(): day.calls for day in response.context["days"]}


def test_closed_days_read_the_same_the_second_time(owner_client, owner_key, clock):
    key, _ = owner_key
    record_call(key, datetime(2026, 11, 3, 8, tzinfo=UTC))
    record_call(key, datetime(2026, 11, 3, 20, tzinfo=UTC), outcome="upstream_error", status=502)
    record_call(key, datetime(2026, 11, 4, 0, 0, tzinfo=UTC))
    first = days_of(owner_client, start="2026-11-02", end="2026-11-04")
    assert first == {"2026-11-02": 0, "2026-11-03": 2, "2026-11-04": 1}
    # All three days are over: they were summed once (empty days included) ...
    assert set(CachedDay.objects.values_list("day", flat=True)) == {
        datetime(2026, 11, d).date() for d in (2, 3, 4)
    }
    # ... and read back from the cache with the same figures.
    assert days_of(owner_client, start="2026-11-02", end="2026-11-04") == first


def test_today_keeps_counting_after_a_report(owner_client, owner_key, clock):
    key, _ = owner_key
    record_call(key, datetime(2026, 11, 25, 9, tzinfo=UTC))
    record_call(key, NOW)
    assert days_of(owner_client, start="2026-11-25", end="2026-11-26") == {
        "2026-11-25": 1,
        "2026-11-26": 1,
    }
    record_call(key, NOW)
    assert days_of(owner_client, start="2026-11-25", end="2026-11-26") == {
        "2026-11-25": 1,
        "2026-11-26": 2,
    }
    assert not CachedDay.objects.filter(day=NOW.date()).exists()


def test_a_day_is_not_frozen_while_its_last_calls_may_still_be_committed(
    owner_client, owner_key, clock
):
    key, _ = owner_key
    clock.set(datetime(2026, 11, 26, 0, 30, tzinfo=UTC))
    record_call(key, datetime(2026, 11, 25, 23, 59, 50, tzinfo=UTC))
    assert days_of(owner_client, start="2026-11-25", end="2026-11-25") == {"2026-11-25": 1}
    # A slow call that arrived at 23:59:59 is committed now, half an hour later.
    record_call(key, datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    assert days_of(owner_client, start="2026-11-25", end="2026-11-25") == {"2026-11-25": 2}
    clock.set(datetime(2026, 11, 26, 1, 30, tzinfo=UTC))
    assert days_of(owner_client, start="2026-11-25", end="2026-11-25") == {"2026-11-25": 2}
    assert CachedDay.objects.filter(day="2026-11-25").exists()


def test_another_time_zone_cuts_its_own_days(owner_client, owner_key, settings, clock):
    key, _ = owner_key
    record_call(key, datetime(2026, 11, 10, 12, tzinfo=UTC))
    record_call(key, datetime(2026, 11, 10, 16, tzinfo=UTC))  # 01:00 on the 11th in Tokyo
    assert days_of(owner_client, start="2026-11-10", end="2026-11-11") == {
        "2026-11-10": 2,
        "2026-11-11": 0,
    }
    settings.TIME_ZONE = "Asia/Tokyo"
    assert days_of(owner_client, start="2026-11-10", end="2026-11-11") == {
        "2026-11-10": 1,
        "2026-11-11": 1,
    }
    settings.TIME_ZONE = "UTC"
    assert days_of(owner_client, start="2026-11-10", end="2026-11-11") == {
        "2026-11-10": 2,
        "2026-11-11": 0,
    }


def test_a_period_across_cached_days_and_today_adds_up(owner, owner_key, clock):
    key, _ = owner_key
    for at, path, outcome, status in [
        (datetime(2026, 11, 20, 5, tzinfo=UTC), "/coins/bitcoin", "ok", 200),
        (datetime(2026, 11, 24, 5, tzinfo=UTC), "/coins/ethereum", "rate_limited", 429),
        (NOW, "/coins/solana", "ok", 200),
        (NOW, "/ping", "ok", 200),
    ]:
        record_call(key, at, path=path, outcome=outcome, status=status)
    from usage.reports.periods import period_for_timeframe

    period = period_for_timeframe("7d", NOW)  # Nov 20-26: six closed days and today
    tables = usage_breakdowns(key_refs=[key.pk], period=period, now=NOW)
    assert [(r["endpoint"], r["calls"]) for r in tables["endpoint"]] == [
        ("/coins/{id}", 3),
        ("/ping", 1),
    ]
    assert {r["outcome"]: r["calls"] for r in tables["outcome"]} == {"ok": 3, "rate_limited": 1}
    days = usage_by_day(key_refs=[key.pk], period=period, now=NOW)
    assert [d.calls for d in days] == [1, 0, 0, 0, 1, 0, 2]
    assert CachedDay.objects.count() == 6


def test_seedusage_drops_the_cache(owner_client, owner_key, clock):
    days_of(owner_client, timeframe="last_month")
    assert CachedDay.objects.count() == 31
    call_command("seedusage", "--calls", "500", "--days", "40", stdout=io.StringIO())
    assert CachedDay.objects.count() == 0 and DayUsage.objects.count() == 0


def test_checkcounters_notices_a_cached_day_that_differs(owner_key, owner_client, clock):
    key, _ = owner_key
    record_call(key, datetime(2026, 11, 3, 8, tzinfo=UTC))
    days_of(owner_client, start="2026-11-03", end="2026-11-03")
    out = io.StringIO()
    call_command("checkcounters", stdout=out)
    assert "1 cached days match the hour counters" in out.getvalue()
    DayUsage.objects.filter(day="2026-11-03").update(calls=5)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("checkcounters", stdout=io.StringIO(), stderr=err)
    assert "cached day 2026-11-03 (UTC): hour counters say 1 calls, the cache 5" in err.getvalue()

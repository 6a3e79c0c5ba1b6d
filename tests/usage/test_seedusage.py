import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min, Q, Sum

from keys.models import ApiKey
from usage.metering import windows
from usage.models import NO_KEY_REF, PLAN_REF, Call, HourUsage, KeylessCalls, MonthUsage, Outcome


def seed(*args):
    out = io.StringIO()
    call_command("seedusage", *args, stdout=out)
    return out.getvalue()


def checkcounters():
    out = io.StringIO()
    call_command("checkcounters", stdout=out)  # raises CommandError when they differ
    return out.getvalue()


def log_totals(**filters):
    return Call.objects.filter(**filters).aggregate(
        calls=Count("id"),
        credits=Sum("credits", default=0),
        overage=Count("id", filter=Q(overage=True)),
        bytes=Sum("bytes", default=0),
    )


def hour_totals(**filters):
    return HourUsage.objects.filter(**filters).aggregate(
        calls=Sum("calls", default=0),
        credits=Sum("credits", default=0),
        overage=Sum("overage_calls", default=0),
        bytes=Sum("bytes", default=0),
    )


def month_totals(key_ref):
    return MonthUsage.objects.filter(key_ref=key_ref).aggregate(
        credits=Sum("credits_used", default=0), overage=Sum("overage_calls", default=0)
    )


@pytest.fixture
def seeded(db):
    """5,000 calls over the last 30 days, with the times just before and after seeding."""
    before = windows.utc_now()
    out = seed("--calls", "5000", "--days", "30", "--seed", "7")
    return before, windows.utc_now(), out


def test_it_inserts_exactly_the_calls_asked_for_and_says_how_fast(seeded):
    _, _, out = seeded
    keyless = KeylessCalls.objects.aggregate(n=Sum("calls"))["n"]
    assert keyless > 0 and Call.objects.count() + keyless == 5000
    assert "seedusage: 5000 calls inserted in " in out
    assert f"{keyless} of them without a valid key" in out
    assert " calls/s; " in out


def test_the_counters_match_the_log(seeded):
    assert "counters match the call log" in checkcounters()


def test_the_counters_add_up_to_the_rows(seeded):
    assert hour_totals(key_ref__gt=0) == log_totals()
    plan = month_totals(PLAN_REF)
    everything = log_totals()
    assert (plan["credits"], plan["overage"]) == (everything["credits"], everything["overage"])
    for key in ApiKey.objects.filter(owner__username="seed"):
        logged = log_totals(key=key)
        assert hour_totals(key_ref=key.pk) == logged
        counted = month_totals(key.pk)
        assert (counted["credits"], counted["overage"]) == (logged["credits"], logged["overage"])
    # Calls without a key: no rows, counted per minute and address, and in the hour
    # counters under their own ref, never the plan's.
    assert not Call.objects.filter(key__isnull=True).exists()
    keyless = KeylessCalls.objects.aggregate(calls=Sum("calls"), bytes=Sum("bytes"))
    no_key = hour_totals(key_ref=NO_KEY_REF)
    assert (no_key["calls"], no_key["bytes"]) == (keyless["calls"], keyless["bytes"])
    assert not HourUsage.objects.filter(key_ref=PLAN_REF).exists()


def test_keys_of_the_seed_user_one_of_them_deleted_with_its_history(seeded):
    keys = ApiKey.objects.filter(owner__username="seed")
    assert keys.count() == 5
    assert {k.label for k in keys} >= {"seed pricing bot 1", "seed portfolio sync 2"}
    deleted = keys.get(deleted_at__isnull=False)
    last_call = Call.objects.filter(key=deleted).aggregate(last=Max("at"))["last"]
    assert last_call is not None and last_call < deleted.deleted_at
    for key in keys:
        # What record() leaves behind: last used at the key's latest call, created before it.
        latest = Call.objects.filter(key=key).aggregate(first=Min("at"), last=Max("at"))
        assert key.last_used_at == latest["last"]
        assert key.created_at < latest["first"]


def test_every_call_lies_in_the_last_days(seeded):
    before, after, _ = seeded
    span = Call.objects.aggregate(first=Min("at"), last=Max("at"))
    assert before - timedelta(days=30) <= span["first"]
    assert span["last"] <= after
    # Spread over the whole range, not bunched at one end.
    assert span["first"] < before - timedelta(days=29)
    assert span["last"] > before - timedelta(days=1)


def test_seeding_twice_adds_to_the_counters_and_reuses_the_keys(seeded):
    seed("--calls", "3000", "--days", "30")
    keyless = KeylessCalls.objects.aggregate(n=Sum("calls"))["n"]
    assert Call.objects.count() + keyless == 8000
    assert f"{8000 - keyless} calls" in checkcounters()
    assert hour_totals(key_ref__gt=0) == log_totals()
    keys = ApiKey.objects.filter(owner__username="seed")
    assert keys.count() == 5
    assert keys.filter(deleted_at__isnull=False).count() == 1


@pytest.mark.django_db
def test_the_calls_look_like_what_the_proxy_records():
    seed("--calls", "20000", "--days", "10", "--keys", "3", "--owner", "dora", "--seed", "1")
    assert ApiKey.objects.filter(owner__username="dora").count() == 3
    calls = Call.objects.all()
    by_outcome = dict(calls.values_list("outcome").annotate(n=Count("id")))
    by_outcome.update(KeylessCalls.objects.values_list("outcome").annotate(n=Sum("calls")))
    assert by_outcome[Outcome.OK] > 0.9 * 20000
    for outcome in (
        Outcome.UPSTREAM_ERROR,
        Outcome.RATE_LIMITED,
        Outcome.CREDITS_EXHAUSTED,
        Outcome.INVALID_KEY,
        Outcome.MISSING_KEY,
    ):
        assert 0 < by_outcome[outcome] < 0.05 * 20000, outcome
    assert 0 < calls.filter(overage=True).count() < 0.01 * 20000
    assert calls.values("path").distinct().count() >= 10
    assert calls.filter(path="/ping").exists() and calls.filter(path="/key").exists()

    # A credit only for a forwarded call answered 2xx; overage calls carry none.
    assert not calls.filter(credits=1).exclude(status__gte=200, status__lt=300).exists()
    assert not calls.filter(credits=1, path__in=["/ping", "/key"]).exists()
    assert not calls.filter(overage=True, credits=1).exists()
    assert not calls.filter(overage=True).exclude(status=200).exists()
    ok_forwarded = calls.filter(outcome=Outcome.OK).exclude(path__in=["/ping", "/key"])
    assert not ok_forwarded.filter(credits=0, overage=False).exists()
    # Only the key checks go without a key, counted per minute and address, not as rows;
    # the statuses are the proxy's.
    assert not calls.filter(key__isnull=True).exists()
    assert set(KeylessCalls.objects.values_list("outcome", flat=True)) == {
        Outcome.INVALID_KEY,
        Outcome.MISSING_KEY,
    }
    statuses = {
        Outcome.RATE_LIMITED: {429},
        Outcome.CREDITS_EXHAUSTED: {402},
        Outcome.INVALID_KEY: {401},
        Outcome.MISSING_KEY: {401},
        Outcome.UPSTREAM_TIMEOUT: {504},
        Outcome.UPSTREAM_UNREACHABLE: {502},
        Outcome.BAD_REQUEST: {400},
    }
    for outcome, expected in statuses.items():
        assert set(calls.filter(outcome=outcome).values_list("status", flat=True)) <= expected
        # Refused or lost before an upstream answer: no latency.
        assert not calls.filter(outcome=outcome, latency_ms__isnull=False).exists()
    assert not calls.filter(outcome=Outcome.UPSTREAM_ERROR, status__lt=400).exists()
    assert calls.filter(outcome=Outcome.OK, latency_ms__gt=0, bytes__gt=0).exists()
    assert "counters match" in checkcounters()


@pytest.mark.django_db
def test_no_calls_is_fine_and_bad_arguments_are_refused():
    assert "0 calls inserted" in seed("--calls", "0", "--days", "1")
    assert Call.objects.count() == 0
    with pytest.raises(CommandError):
        seed("--calls", "-1", "--days", "1")
    with pytest.raises(CommandError):
        seed("--calls", "10", "--days", "0")

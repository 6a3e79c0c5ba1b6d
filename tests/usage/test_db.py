"""The proxy's raw transactions, outside any test transaction (as in a server worker)."""

from datetime import UTC, date, datetime

import pytest
from django.db import DatabaseError, connection

from tests.support import record_call
from usage.metering import access, db
from usage.models import MonthUsage

# transaction=True: no test-wide atomic block, so db.write() runs its own BEGIN/COMMIT.
pytestmark = pytest.mark.django_db(transaction=True)

ADD = (
    "INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls) "
    "VALUES (%s, %s, 1, 0)"
)
MONTH = date(2026, 11, 1)


def add(cur, ref):
    db.run(cur, ADD, [ref, db.date_param(MONTH)])


def test_a_block_commits_every_statement():
    assert not connection.in_atomic_block
    with db.write() as cur:
        add(cur, 71)
        add(cur, 72)
    assert set(MonthUsage.objects.values_list("key_ref", flat=True)) == {71, 72}


def test_a_failed_statement_rolls_the_whole_block_back_and_the_connection_goes_on():
    with pytest.raises(DatabaseError):  # Django's, not the driver's: the proxy answers 503
        with db.write() as cur:
            add(cur, 73)
            db.run(cur, "UPDATE no_such_table SET x = 1", [])
    assert not MonthUsage.objects.filter(key_ref=73).exists()
    with db.write() as cur:  # not stuck in the failed transaction
        add(cur, 74)
    assert MonthUsage.objects.filter(key_ref=74).exists()


def test_an_error_in_python_rolls_back_too():
    with pytest.raises(ZeroDivisionError):
        with db.write() as cur:
            add(cur, 75)
            1 / 0  # noqa: B018
    assert not MonthUsage.objects.filter(key_ref=75).exists()


def test_reads_see_what_writes_committed():
    with db.write() as cur:
        add(cur, 76)
    assert db.fetch_one("SELECT credits_used FROM usage_monthusage WHERE key_ref = %s", [76]) == (
        1,
    )


def test_the_proxy_answers_503_in_coingeckos_shape_when_its_database_fails(
    api, upstream, monkeypatch
):
    monkeypatch.setattr(access, "PLAN_AND_KEY", "SELECT missing_column FROM usage_plan")
    response = api.get("/simple/price", ids="bitcoin", vs_currencies="usd")
    assert response.status_code == 503
    assert response.json()["status"]["error_code"] == 503
    assert "database" in response.json()["status"]["error_message"]
    assert response.json()["status"]["timestamp"]
    assert upstream.count == 0
    monkeypatch.undo()
    assert api.get("/simple/price", ids="bitcoin", vs_currencies="usd").status_code == 200


def test_the_day_cache_fills_in_its_own_transactions(owner_key):

    from usage.models import DayUsage
    from usage.reports import daycache
    from usage.reports.selectors import team_refs

    key, _ = owner_key
    record_call(key, datetime(2026, 11, 3, 8, tzinfo=UTC))
    record_call(key, datetime(2026, 11, 3, 9, tzinfo=UTC), path="/ping")
    refs = team_refs()
    assert daycache.ensure(date(2026, 11, 2), date(2026, 11, 3), refs=refs) == 2
    assert daycache.ensure(date(2026, 11, 2), date(2026, 11, 3), refs=refs) == 0  # once only
    cached = DayUsage.objects.filter(day=date(2026, 11, 3)).values_list("endpoint", "calls")
    assert sorted(cached) == [("/ping", 1), ("/simple/price", 1)]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_keyless_hour_and_day_counters_off_the_plans_ref():
    """Before 0005, key_ref 0 meant "no key" in the hour and day counters: it becomes
    NO_KEY_REF there, and the month counters' 0 (the plan) is left alone."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("usage", "0004_daycache")])
    old = executor.loader.project_state([("usage", "0004_daycache")]).apps
    hour = datetime(2026, 11, 3, 8, tzinfo=UTC)
    old.get_model("usage", "HourUsage").objects.create(
        key_ref=0, hour=hour, endpoint="/ping", outcome="missing_key", calls=3
    )
    old.get_model("usage", "DayUsage").objects.create(
        zone="UTC", day=date(2026, 11, 3), key_ref=0, endpoint="/ping", outcome="missing_key"
    )
    old.get_model("usage", "MonthUsage").objects.create(
        key_ref=0, month=date(2026, 11, 1), credits_used=7
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from usage.models import NO_KEY_REF, PLAN_REF, DayUsage, HourUsage, MonthUsage

    assert HourUsage.objects.get().key_ref == NO_KEY_REF
    assert DayUsage.objects.get().key_ref == NO_KEY_REF
    assert MonthUsage.objects.get().key_ref == PLAN_REF

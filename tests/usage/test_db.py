"""The proxy's raw transactions, outside any test transaction (as in a server worker)."""

from datetime import date

import pytest
from django.db import DatabaseError, connection

from usage import db, ledger
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
    monkeypatch.setattr(ledger, "LIMITS", "SELECT missing_column FROM usage_plan")
    response = api.get("/simple/price", ids="bitcoin", vs_currencies="usd")
    assert response.status_code == 503
    assert response.json()["status"]["error_code"] == 503
    assert "database" in response.json()["status"]["error_message"]
    assert upstream.count == 0
    monkeypatch.undo()
    assert api.get("/simple/price", ids="bitcoin", vs_currencies="usd").status_code == 200


def test_the_day_cache_fills_in_its_own_transactions(owner_key):
    from datetime import UTC, datetime

    from usage import daycache
    from usage.models import DayUsage
    from usage.selectors import team_refs

    from .test_report import log

    key, _ = owner_key
    log(key, datetime(2026, 11, 3, 8, tzinfo=UTC))
    log(key, datetime(2026, 11, 3, 9, tzinfo=UTC), path="/ping")
    refs = team_refs()
    assert daycache.ensure(date(2026, 11, 2), date(2026, 11, 3), refs=refs) == 2
    assert daycache.ensure(date(2026, 11, 2), date(2026, 11, 3), refs=refs) == 0  # once only
    cached = DayUsage.objects.filter(day=date(2026, 11, 3)).values_list("endpoint", "calls")
    assert sorted(cached) == [("/ping", 1), ("/simple/price", 1)]

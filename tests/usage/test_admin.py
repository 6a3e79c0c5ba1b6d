"""The admin's usage pages in words a person reads: column names, outcomes, settings,
key labels instead of ids, thousands separators."""

from datetime import UTC, datetime

import pytest

from keys.services import key_create
from tests.support import record_call
from usage.plan.services import plan_update

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)


def rows_of(body: str) -> str:
    """The change list's rows, without its filters."""
    return body.split("<tbody>")[1].split("</tbody>")[0]


def test_the_call_list_speaks_plainly(staff_client, owner, clock):
    key, _ = key_create(owner=owner, label="pricing bot")
    record_call(key, NOW, status=502, outcome="upstream_error", credit=False, size=1234567)
    body = staff_client.get("/admin/usage/call/").content.decode()
    assert "Upstream error" in rows_of(body) and "upstream_error" not in rows_of(body)
    assert "Time (UTC)" in body and "Latency (ms)" in body
    assert "1,234,567" in body


def test_counters_name_keys_by_label(staff_client, owner, clock):
    key, _ = key_create(owner=owner, label="pricing bot")
    record_call(key, NOW)
    body = staff_client.get("/admin/usage/hourusage/").content.decode()
    assert "pricing bot" in body and "The whole plan" not in body  # hour counters: keys only
    body = staff_client.get("/admin/usage/monthusage/").content.decode()
    assert "pricing bot" in body and "The whole plan" in body


def test_the_change_history_names_settings(staff_client, staff):
    plan_update(actor=staff, alerts_enabled=False, monthly_credits=250000)
    body = staff_client.get("/admin/usage/planchange/").content.decode()
    rows = rows_of(body)
    assert "Alerts" in rows and "alerts_enabled" not in rows
    assert "Monthly call credits" in rows and "250,000" in rows


def test_the_call_list_never_reads_the_whole_log(staff_client, owner, clock, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from usage import admin as usage_admin

    monkeypatch.setattr(usage_admin, "COUNT_BOUND", 3)
    key, _ = key_create(owner=owner, label="pricing bot")
    for _ in range(5):
        record_call(key, NOW)
    with CaptureQueriesContext(connection) as queries:
        body = staff_client.get("/admin/usage/call/").content.decode()
    on_the_log = [q["sql"] for q in queries if "usage_call" in q["sql"]]
    assert on_the_log
    for sql in on_the_log:
        assert "DISTINCT" not in sql.upper(), sql  # no filter asks the log for its values
        if "COUNT(" in sql.upper():
            assert "LIMIT" in sql.upper(), sql  # counted to a bound, never all of it
    assert rows_of(body).count("<tr") == 5  # every call still listed (one page)
    assert "more than 3 calls: pages stop there" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("when=hour", {"/simple/price"}),
        ("when=month", {"/simple/price", "/coins/bitcoin"}),
        ("status_class=5", {"/coins/ethereum"}),
        ("outcome__exact=upstream_error", {"/coins/ethereum"}),
    ],
)
def test_the_call_list_filters(staff_client, owner, query, expected):
    from datetime import timedelta

    from django.utils import timezone

    key, _ = key_create(owner=owner, label="pricing bot")
    now = timezone.now()
    record_call(key, now, path="/simple/price")
    record_call(key, now - timedelta(days=3), path="/coins/bitcoin")
    record_call(
        key,
        now - timedelta(days=60),
        path="/coins/ethereum",
        status=502,
        outcome="upstream_error",
        credit=False,
    )
    body = rows_of(staff_client.get(f"/admin/usage/call/?{query}").content.decode())
    shown = {
        path for path in ("/simple/price", "/coins/bitcoin", "/coins/ethereum") if path in body
    }
    assert shown == expected


def test_one_keys_calls_newest_first(staff_client, owner, clock):
    key, _ = key_create(owner=owner, label="pricing bot")
    record_call(key, datetime(2026, 11, 26, 9, tzinfo=UTC), path="/later")
    record_call(key, datetime(2026, 11, 20, 9, tzinfo=UTC), path="/earlier")  # logged after
    body = rows_of(staff_client.get(f"/admin/usage/call/?key__id__exact={key.pk}").content.decode())
    assert body.index("/later") < body.index("/earlier")

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
    assert "Monthly credits" in rows and "250,000" in rows

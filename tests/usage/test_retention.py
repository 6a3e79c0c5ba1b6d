"""Call-log retention: old rows go in small batches, counters and reports stay whole."""

import io
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from tests.servers import ROOT, TollgateServer, call
from tests.support import record_call
from usage.metering import retention
from usage.models import Call, CallLogHorizon, HourUsage, MonthUsage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
OLD = NOW - timedelta(days=401)
RECENT = NOW - timedelta(days=399)


def run(*args) -> str:
    out = io.StringIO()
    call_command("prunecalls", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def log(owner_key, clock):
    key = owner_key[0]
    for at in (OLD, OLD + timedelta(minutes=1), RECENT, NOW):
        record_call(key, at)
    return key


def counters():
    hours = sorted(HourUsage.objects.values_list("hour", "calls", "credits"))
    months = sorted(MonthUsage.objects.values_list("key_ref", "month", "credits_used"))
    return hours, months


def test_it_deletes_rows_past_the_retention_and_keeps_every_counter(log, settings):
    before = counters()
    out = run()
    assert "deleted 2 calls before 2025-10-22 10:00 UTC" in out
    assert sorted(Call.objects.values_list("at", flat=True)) == [RECENT, NOW]
    assert counters() == before  # the report and the daily CSV still see every month
    assert CallLogHorizon.load().before == datetime(2025, 10, 22, 10, tzinfo=UTC)


def test_checkcounters_checks_the_range_the_log_still_holds(log):
    run()
    out = io.StringIO()
    call_command("checkcounters", stdout=out)
    assert "counters match the call log since 2025-10-22 10:00 UTC" in out.getvalue()


def test_days_overrides_the_setting_and_a_longer_setting_keeps_all(log, settings):
    settings.CALL_LOG_RETENTION_DAYS = 1000
    assert "deleted 0 calls" in run()
    assert "deleted 3 calls" in run("--days", "1")
    assert list(Call.objects.values_list("at", flat=True)) == [NOW]


def test_zero_keeps_the_log_in_full(log, settings):
    settings.CALL_LOG_RETENTION_DAYS = 0
    assert "kept in full" in run()
    assert Call.objects.count() == 4
    assert CallLogHorizon.objects.filter(before__isnull=False).count() == 0


@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "-3"], ["--batch", "0"]])
def test_bad_options_are_refused_and_delete_nothing(log, args):
    with pytest.raises(CommandError):
        run(*args)
    assert Call.objects.count() == 4


def test_it_deletes_in_batches_until_none_is_left(owner_key, clock):
    key = owner_key[0]
    for minute in range(25):
        record_call(key, OLD + timedelta(minutes=minute))
    pruned = retention.prune_calls(batch=4, pause=0, duty=1)
    assert pruned.deleted == 25
    assert not Call.objects.exists()


def test_an_export_the_retention_cut_short_says_so(log, owner_client):
    run()
    query = {"start": "2025-10-01", "end": "2025-12-31"}
    page = owner_client.get("/usage/history/", query).content.decode()
    assert "The call log keeps 400 days: the per-call file starts at 2025-10-22 10:00 UTC" in page
    response = owner_client.get("/usage/export.csv", {**query, "granularity": "call"})
    assert "-calls-since-2025-10-22.csv" in response["Content-Disposition"]
    recent = owner_client.get(
        "/usage/export.csv", {"start": "2026-11-01", "end": "2026-11-26", "granularity": "call"}
    )
    assert "since" not in recent["Content-Disposition"]


def test_a_prune_under_load_leaves_every_call_and_counter_exact(upstream, tmp_path):
    """A real server takes calls while prunecalls deletes thousands of old rows beside it."""
    server = TollgateServer("sqlite", "", tmp_path, upstream.url)
    server.manage("seedusage", "--calls", "6000", "--days", "800", "--keys", "3", "--seed", "1")
    server.raw = server.key("during the prune")
    server.start()
    try:
        prune = subprocess.Popen(
            [sys.executable, "manage.py", "prunecalls", "--batch", "200"],
            cwd=ROOT,
            env=server.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        path = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
        statuses = []
        with ThreadPoolExecutor(8) as pool:
            while prune.poll() is None or len(statuses) < 80:
                statuses += pool.map(lambda _: call(server.port, path, server.raw), range(8))
                time.sleep(0.01)
        out = prune.communicate()[0]
    finally:
        server.stop()
    assert set(statuses) == {200}
    assert "prunecalls: deleted" in out and " 0 calls" not in out
    assert "counters match the call log since" in server.manage("checkcounters")
    script = (
        "from usage.models import Call; from datetime import timedelta; "
        "from usage.metering.windows import utc_now; "
        "print(Call.objects.filter(at__lt=utc_now() - timedelta(days=401)).count(), "
        "Call.objects.filter(key__label='during the prune').count())"
    )
    old_left, mine = server.manage("shell", "-v", "0", "-c", script).split()
    assert old_left == "0"
    assert int(mine) == len(statuses)


def test_the_alert_sender_prunes_the_log_as_it_starts(upstream, tmp_path):
    """sendalerts' loop runs prunecalls in a thread of its own, once at start, then daily."""
    server = TollgateServer("sqlite", "", tmp_path, upstream.url)
    server.manage("seedusage", "--calls", "500", "--days", "800", "--keys", "2", "--seed", "2")
    count_old = (
        "from usage.models import Call; from datetime import timedelta; "
        "from usage.metering.windows import utc_now; "
        "print(Call.objects.filter(at__lt=utc_now() - timedelta(days=401)).count())"
    )
    assert int(server.manage("shell", "-v", "0", "-c", count_old)) > 0
    sender = subprocess.Popen(
        [sys.executable, "manage.py", "sendalerts", "--interval", "1"],
        cwd=ROOT,
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while int(server.manage("shell", "-v", "0", "-c", count_old)) > 0:
            assert time.monotonic() < deadline, "the sender did not prune the old calls"
            time.sleep(0.5)
    finally:
        sender.terminate()
        sender.wait(timeout=20)
    assert "counters match the call log since" in server.manage("checkcounters")

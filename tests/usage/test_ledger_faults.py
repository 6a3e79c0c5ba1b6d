"""The ledger never drifts: a call's row exists from the moment its credit is reserved, a
call cut off in flight is settled, and an answered call is never hidden by the database.

The in-process tests drive the ledger directly; the fault tests run Tollgate under real
gunicorn processes and do to them what a bad day does: kill -9, a full disk.
"""

import io
import os
import signal
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command

from tests.servers import TollgateServer, call
from usage.metering import ledger
from usage.metering.access import authenticate
from usage.metering.settle import settle, settle_after
from usage.models import Call, HourUsage, MonthUsage, Outcome

pytestmark = pytest.mark.django_db
PRICE = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"


def checkcounters() -> str:
    out = io.StringIO()
    call_command("checkcounters", stdout=out)
    return out.getvalue()


def admitted_call(api, clock):
    key, plan = authenticate(api.raw)
    record = ledger.CallRecord(
        at=clock.now,
        key_id=key.pk,
        method="GET",
        path="/simple/price",
        query="",
        status=0,
        outcome="",
    )
    return record, ledger.admit(key=key, plan=plan, now=clock.now, call=record)


class TestInFlight:
    def test_the_row_is_written_with_its_credit(self, api, clock):
        _, admission = admitted_call(api, clock)
        row = Call.objects.get()
        assert (row.pk, row.outcome, row.credits) == (admission.call_id, "in_flight", 1)
        assert MonthUsage.objects.get(key_ref=api.key.pk).credits_used == 1
        assert "counters match" in checkcounters()  # consistent while the call is out

    def test_completion_turns_it_into_the_answered_call(self, api, clock):
        record, admission = admitted_call(api, clock)
        record.status, record.outcome, record.bytes = 200, Outcome.OK, 42
        assert ledger.record(record, admission) == admission.call_id
        row = Call.objects.get()
        assert (row.outcome, row.status, row.credits, row.bytes) == ("ok", 200, 1, 42)
        assert HourUsage.objects.get(key_ref=api.key.pk).calls == 1
        assert "counters match" in checkcounters()

    def test_a_call_cut_off_is_settled_abandoned_with_its_credit(self, api, clock):
        admitted_call(api, clock)
        assert settle(clock.now + settle_after() - timedelta(seconds=1)) == 0
        assert settle(clock.now + settle_after() + timedelta(seconds=1)) == 1
        row = Call.objects.get()
        assert (row.outcome, row.credits) == ("abandoned", 1)
        assert MonthUsage.objects.get(key_ref=api.key.pk).credits_used == 1
        hour = HourUsage.objects.get(key_ref=api.key.pk)
        assert (hour.outcome, hour.calls, hour.credits) == ("abandoned", 1, 1)
        assert "counters match" in checkcounters()
        assert settle(clock.now + settle_after() * 2) == 0  # once only

    def test_an_answer_after_settling_changes_nothing(self, api, clock):
        record, admission = admitted_call(api, clock)
        settle(clock.now + settle_after() * 2)
        record.status, record.outcome = 502, Outcome.UPSTREAM_ERROR
        ledger.record(record, admission)
        assert Call.objects.get().outcome == "abandoned"
        assert MonthUsage.objects.get(key_ref=api.key.pk).credits_used == 1
        assert "counters match" in checkcounters()


def worker_pids(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


@pytest.fixture
def gunicorn(upstream, tmp_path):
    servers = []

    def start(data_dir=None, **env):
        server = TollgateServer("sqlite", "", tmp_path, upstream.url, **env)
        if data_dir is not None:
            server.env["DATA_DIR"] = str(data_dir)
            server.manage("migrate", "--noinput", "-v", "0")
            server.manage("shell", "-c", _HAMMER)
        server.raw = server.key("fault bot")
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


_HAMMER = "from django.contrib.auth.models import User; User.objects.create_user('hammer')"


def test_kill_9_in_flight_settles_with_no_manual_step(gunicorn, upstream):
    """Calls in flight when every worker is killed outright: once the settle time has
    passed, their rows are abandoned with their credits and checkcounters passes."""
    # Threads enough that no call waits for one: all eight must be upstream when killed.
    server = gunicorn(
        WEB_THREADS="12", UPSTREAM_TIMEOUT="6", UPSTREAM_CONNECT_TIMEOUT="0.5", SETTLE_MARGIN="0.5"
    )
    upstream.configure(delay=5)
    callers = [
        threading.Thread(target=lambda: _quietly(call, server.port, PRICE, server.raw))
        for _ in range(8)
    ]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 10
    while upstream.count < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.count == 8
    workers = worker_pids(server.process.pid)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    upstream.configure(delay=0)
    for caller in callers:
        caller.join()
    deadline = time.monotonic() + 30
    # settle() closes the rows one by one: wait until none is left in flight.
    while "in_flight" in _outcomes(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _outcomes(server) == "abandoned 8"
    assert "counters match the call log" in server.manage("checkcounters")


def _outcomes(server) -> str:
    code = (
        "from usage.models import Call; from django.db.models import Count; "
        "print(' '.join(f'{o} {n}' for o, n in "
        "Call.objects.values_list('outcome').annotate(Count('id')).order_by('outcome')))"
    )
    return server.manage("shell", "-v", "0", "-c", code).strip()


def _quietly(fn, *args):
    try:
        return fn(*args)
    except OSError:
        return None  # the worker died under the call: that is the point


def test_an_answered_call_is_never_hidden_by_a_database_failure(gunicorn, upstream, caplog):
    """The database refuses writes (another writer holds its lock past the busy timeout)
    after the upstream has answered: the client still gets the upstream's answer, the
    call's completion is kept and written once the database is back, and the log says so
    once per outage. Calls that would need the database before forwarding get 503."""
    server = gunicorn(SQLITE_BUSY_TIMEOUT="0.3")
    assert call(server.port, PRICE, server.raw) == 200
    upstream.configure(delay=1.0)
    answers = []
    caller = threading.Thread(target=lambda: answers.append(call(server.port, PRICE, server.raw)))
    caller.start()
    while upstream.count < 2:
        time.sleep(0.02)
    blocker = sqlite3.connect(server.env["DATA_DIR"] + "/tollgate.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held: no writer gets in now
    try:
        caller.join()
        assert answers == [200]  # the upstream's answer, not a 503
        upstream.configure(delay=0)
        refused = [call(server.port, PRICE, server.raw) for _ in range(3)]
        assert refused == [503, 503, 503]  # admitting needs the database: never forwarded
        assert upstream.count == 2
        assert server.wait_for_log("completions are kept and retried")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert server.wait_for_log("the database is back", timeout=20)
    log = server.log_text()
    assert log.count("completions are kept and retried") == 1
    assert 1 <= log.count("database unavailable") <= 3  # once per outage per worker process
    assert "Traceback" not in log
    assert _outcomes(server) == "ok 2"  # the 503s could not be logged
    assert "counters match the call log" in server.manage("checkcounters")


def test_the_settle_time_follows_the_upstream_timeouts(settings):
    settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_TIMEOUT = 3.05, 10
    settings.SETTLE_MARGIN = 30
    assert settle_after() == timedelta(seconds=43.05)


def test_settle_leaves_other_rows_alone(api, clock):
    record, admission = admitted_call(api, clock)
    record.status, record.outcome = 200, Outcome.OK
    ledger.record(record, admission)
    assert settle(clock.now + settle_after() * 2) == 0
    assert Call.objects.get().outcome == "ok"


def test_looking_for_calls_to_settle_reads_the_in_flight_index_not_the_log(clock):
    """Every worker looks every few seconds: on a log of millions of calls, a scan of the
    table each time would stall every worker."""
    from django.db import connection

    from usage.metering.settle import stale_calls

    sql, params = stale_calls(clock.now).query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "call_in_flight" in plan and "SCAN usage_call" not in plan
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask for the index
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "call_in_flight" in plan

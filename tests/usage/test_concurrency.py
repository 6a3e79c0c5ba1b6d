"""Limits hold exactly with several real server processes hammering one key.

Each test starts Tollgate as ``make run`` does (gunicorn, several worker processes and
threads) on a database of its own, against the simulated upstream, and fires a burst of
concurrent calls. Admitted calls must equal the limit: not one more, not one fewer.
Backends: SQLite always; PostgreSQL when DATABASE_URL points at one; Redis (as the
per-minute limiter) when REDIS_URL is set. CI's second pass sets both.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from devtools.simulator import SimulatedUpstream
from tests.servers import ON_POSTGRES, REDIS_URL, TollgateServer, call
from tests.support import TEAM_KEY

BURST = 90
PARALLEL = 24


BACKENDS = [
    pytest.param(("sqlite", ""), id="sqlite"),
    pytest.param(
        ("postgres", ""),
        id="postgres",
        marks=pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not PostgreSQL"),
    ),
    pytest.param(
        ("postgres" if ON_POSTGRES else "sqlite", REDIS_URL),
        id="redis",
        marks=pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set"),
    ),
]


def burst(port: int, raw_key: str) -> list[int]:
    path = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
    with ThreadPoolExecutor(PARALLEL) as pool:
        vias = ["header", "query"] * (BURST // 2)
        return list(pool.map(lambda via: call(port, path, raw_key, via), vias))


def wait_for_a_fresh_minute() -> None:
    """A burst must not straddle two minute windows: start early in one."""
    second = datetime.now(UTC).second
    if second >= 40:
        time.sleep(60 - second + 0.5)


@pytest.fixture(scope="module")
def upstream():
    with SimulatedUpstream(api_key=TEAM_KEY) as sim:
        yield sim


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, upstream, tmp_path_factory):
    """One running Tollgate per backend, shared by this module's tests (each its own key)."""
    backend, redis_url = request.param
    instance = TollgateServer(backend, redis_url, tmp_path_factory.mktemp(backend), upstream.url)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def upstream_calls(upstream):
    """How many calls reached the upstream during the test."""
    before = upstream.count
    return lambda: upstream.count - before


def test_the_per_minute_limit_admits_exactly_the_limit(server, upstream_calls):
    raw_key = server.key("per-minute", rate=25)
    wait_for_a_fresh_minute()
    statuses = burst(server.port, raw_key)
    assert statuses.count(200) == 25
    assert statuses.count(429) == BURST - 25
    assert upstream_calls() == 25
    assert "counters match the call log" in server.manage("checkcounters")
    # Neither key reached the server's log, though half the calls sent it in the query.
    log = server.log_text()
    assert raw_key not in log and TEAM_KEY not in log
    # Proxied calls are in the usage log only; the access log keeps the console's pages.
    assert "simple/price" not in log
    # (Logging out takes a POST: a GET is answered 405 without a template or static files,
    # which a fresh checkout has not collected.)
    assert call(server.port, "/accounts/logout/", None) == 405
    assert server.wait_for_log('"GET /accounts/logout/" 405')


def test_monthly_credits_admit_exactly_the_credits(server, upstream_calls):
    raw_key = server.key("monthly", credits=30)
    statuses = burst(server.port, raw_key)
    assert statuses.count(200) == 30
    assert statuses.count(402) == BURST - 30
    assert upstream_calls() == 30
    assert "counters match the call log" in server.manage("checkcounters")


def test_the_plans_credits_hold_across_keys_and_workers(server, upstream_calls):
    first = server.key("plan-a")
    second = server.key("plan-b")
    used = server.manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from usage.models import MonthUsage; "
        "print(sum(MonthUsage.objects.filter(key_ref=0).values_list('credits_used', flat=True)))",
    )
    server.manage("setplan", "--monthly-credits", str(int(used) + 40), "--overage", "off")
    try:
        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(lambda raw: burst(server.port, raw), [first, second])
    finally:
        server.manage("setplan", "--monthly-credits", "1000000")
    assert a.count(200) + b.count(200) == 40
    assert a.count(402) + b.count(402) == 2 * BURST - 40
    assert upstream_calls() == 40
    assert "counters match the call log" in server.manage("checkcounters")

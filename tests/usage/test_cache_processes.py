"""The response cache across real worker processes (and instances): identical misses make
one upstream call, a failing burst is one failure, credits equal the upstream's 2xx answers.

Tollgate runs as ``make run`` runs it (gunicorn, gevent workers), on SQLite with the
cache's own file, or on PostgreSQL with Redis holding the cache.
"""

import http.client
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import ON_POSTGRES, REDIS_URL, TollgateServer

pytestmark = pytest.mark.django_db
PRICE = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"

BACKENDS = [
    pytest.param(("sqlite", ""), id="sqlite"),
    pytest.param(
        ("postgres", REDIS_URL),
        id="postgres-redis",
        marks=pytest.mark.skipif(
            not (ON_POSTGRES and REDIS_URL), reason="needs PostgreSQL and Redis"
        ),
    ),
]


def get(port: int, path: str, raw_key: str) -> tuple[int, str, float]:
    """(status, x-tollgate-cache, seconds taken)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"x-cg-pro-api-key": raw_key})
        response = conn.getresponse()
        response.read()
        return (
            response.status,
            response.getheader("x-tollgate-cache", ""),
            (time.monotonic() - started),
        )
    finally:
        conn.close()


def burst(port_list, path, raw_key):
    with ThreadPoolExecutor(len(port_list)) as pool:
        return list(pool.map(lambda port: get(port, path, raw_key), port_list))


def ledger(server) -> dict:
    """Outcome -> [rows, credits] from the call log, and the plan's credits used."""
    script = (
        "from collections import Counter; from django.db.models import Count, Sum; "
        "from usage.models import Call, MonthUsage; "
        "rows = Call.objects.values('outcome').annotate(n=Count('id'), c=Sum('credits')); "
        "print({r['outcome']: [r['n'], r['c']] for r in rows}); "
        "print(sum(m.credits_used for m in MonthUsage.objects.filter(key_ref=0)))"
    )
    rows, credits = server.manage("shell", "-v", "0", "-c", script).strip().splitlines()
    return {"rows": eval(rows), "credits": int(credits)}  # noqa: S307 (our own output)


@pytest.fixture(params=BACKENDS)
def server(request, upstream, tmp_path):
    backend, redis_url = request.param
    # A Redis slow to answer on a loaded machine sends a call upstream uncached (by design:
    # the store counts as away); these tests are about coalescing, so give it time.
    instance = TollgateServer(
        backend, redis_url, tmp_path, upstream.url, UPSTREAM_TIMEOUT="2", REDIS_TIMEOUT="2"
    )
    instance.manage("setplan", "--cache", "on")
    instance.raw = instance.key("cache")
    instance.start()
    yield instance
    instance.stop()


def test_fifty_identical_calls_make_one_upstream_call(server, upstream):
    upstream.configure(slow_path="/api/v3/simple/price", slow_delay=1)
    answers = burst([server.port] * 50, PRICE, server.raw)
    assert {status for status, _, _ in answers} == {200}
    labels = sorted(label for _, label, _ in answers)
    assert labels.count("miss") == 1
    assert set(labels) <= {"miss", "coalesced", "hit"}
    assert upstream.count == 1
    assert ledger(server) == {
        "rows": {"ok": [1, 1], **_saved(labels)},
        "credits": 1,
    }
    assert "counters match the call log" in server.manage("checkcounters")


def _saved(labels) -> dict:
    saved = {}
    for label, outcome in (("coalesced", "coalesced"), ("hit", "cached")):
        if labels.count(label):
            saved[outcome] = [labels.count(label), 0]
    return saved


def test_a_failing_burst_is_one_upstream_failure(server, upstream):
    upstream.configure(slow_path="/api/v3/simple/price", slow_delay=1, fail_next=[500])
    answers = burst([server.port] * 30, PRICE, server.raw)
    assert [status for status, _, _ in answers] == [500] * 30
    assert upstream.count == 1
    assert ledger(server) == {"rows": {"upstream_error": [30, 0]}, "credits": 0}


def test_waiters_on_a_stuck_call_get_their_504_at_the_timeout(server, upstream):
    upstream.configure(slow_path="/api/v3/simple/price", slow_delay=8)
    answers = burst([server.port] * 20, PRICE, server.raw)
    assert {status for status, _, _ in answers} == {504}
    assert max(seconds for _, _, seconds in answers) < 2 + 1.5
    assert upstream.count == 1


def test_credits_equal_the_upstreams_answers_under_a_mixed_burst(server, upstream):
    """Eight questions asked twenty times each, at once: one upstream call per question,
    one credit per upstream 2xx, a row per call."""
    upstream.configure(delay=0.2)
    coins = ["bitcoin", "ethereum", "tether", "solana", "dogecoin", "cardano", "tron", "sui"]
    paths = [f"/api/v3/simple/price?ids={coin}&vs_currencies=usd" for coin in coins] * 20
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda path: get(server.port, path, server.raw), paths))
    assert {status for status, _, _ in answers} == {200}
    assert upstream.count == len(coins)
    found = ledger(server)
    assert found["credits"] == len(coins) == found["rows"]["ok"][1]
    assert sum(n for n, _ in found["rows"].values()) == len(paths)
    assert "counters match the call log" in server.manage("checkcounters")


@pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="two instances share PostgreSQL and Redis"
)
def test_two_instances_share_one_cache_through_redis(upstream, tmp_path_factory):
    first = TollgateServer(
        "postgres", REDIS_URL, tmp_path_factory.mktemp("a"), upstream.url, REDIS_TIMEOUT="2"
    )
    second = TollgateServer(
        "postgres",
        REDIS_URL,
        tmp_path_factory.mktemp("b"),
        upstream.url,
        beside=first,
        REDIS_TIMEOUT="2",
    )
    try:
        first.manage("setplan", "--cache", "on")
        raw = first.key(f"shared-{uuid.uuid4().hex[:6]}")
        first.start()
        second.start()
        upstream.configure(slow_path="/api/v3/simple/price", slow_delay=1)
        answers = burst([first.port, second.port] * 20, PRICE, raw)
        assert {status for status, _, _ in answers} == {200}
        assert upstream.count == 1
        later = get(second.port, PRICE, raw)
        assert later[:2] == (200, "hit")
        assert upstream.count == 1
    finally:
        second.stop()
        first.stop()

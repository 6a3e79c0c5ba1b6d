"""Slow clients and a slow upstream never stop the team; several Tollgates share one ledger.

Each test runs Tollgate as ``make run`` does (gunicorn's gevent workers) against the
simulated upstream. The figures (rates, p99s) are bench/isolation.py's; these tests hold
the behaviour: nothing waits in a queue behind a slow call or a slow client.
"""

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import ON_POSTGRES, REDIS_URL, TollgateServer, call

pytestmark = pytest.mark.django_db
SLOW = "/api/v3/coins/markets?vs_currency=usd"
FAST = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not PostgreSQL"),
    ),
]


@pytest.fixture(params=BACKENDS)
def server(request, upstream, tmp_path):
    # One worker: whatever it serves at once, it serves without threads to queue for. A
    # small database pool: a call must not hold a connection while the upstream is slow.
    instance = TollgateServer(
        request.param,
        "",
        tmp_path,
        upstream.url,
        WEB_WORKERS="1",
        UPSTREAM_TIMEOUT="2",
        DATABASE_POOL_SIZE="4",
    )
    instance.raw = instance.key("isolation")
    instance.start()
    yield instance
    instance.stop()


def timed_call(port, path, raw_key):
    started = time.monotonic()
    status = call(port, path, raw_key)
    return status, time.monotonic() - started


def test_stuck_calls_get_their_504_at_the_timeout_never_later(server, upstream):
    """32 calls to an endpoint the upstream answers in 8 s, with UPSTREAM_TIMEOUT 2 s, on
    one worker: each gets its 504 about 2 s after it was sent, none waits for a thread
    another stuck call holds (threaded, 4 at a time: the last would wait ~16 s)."""
    upstream.configure(slow_path="/api/v3/coins/markets", slow_delay=8)
    with ThreadPoolExecutor(32) as pool:
        stuck = [pool.submit(timed_call, server.port, SLOW, server.raw) for _ in range(32)]
        time.sleep(0.5)
        # Meanwhile the console and a fast endpoint answer as usual.
        assert call(server.port, FAST, server.raw) == 200
        assert call(server.port, "/usage/", None) == 302  # a console page (no static files here)
        answers = [future.result() for future in stuck]
    assert {status for status, _ in answers} == {504}
    assert max(seconds for _, seconds in answers) < 2 + 1.5
    assert "counters match the call log" in server.manage("checkcounters")


def dribbler(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: x\r\n")
    return sock


def closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (within 10 s), whatever it said before."""
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except OSError:
        return False
    return True


def test_slow_clients_neither_block_others_nor_stay_connected(server):
    """128 connections dribbling headers: the console still answers, and a connection that
    has not sent its request headers within the keep-alive time (5 s) is closed."""
    dribblers = [dribbler(server.port) for _ in range(128)]
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        for _ in range(2):
            for sock in dribblers:
                sock.sendall(b"X-Slow: 1\r\n")
            assert (
                call(server.port, "/usage/", None) == 302
            )  # a console page (no static files here)
            assert call(server.port, FAST, server.raw) == 200
            time.sleep(1)
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < 30
        assert sum(closed(sock) for sock in dribblers) == len(dribblers)  # cut off too
    finally:
        silent.close()
        for sock in dribblers:
            sock.close()


@pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="two instances share PostgreSQL and Redis"
)
def test_two_instances_on_one_postgresql_and_redis_keep_the_limits_exact(
    upstream, tmp_path_factory
):
    first = TollgateServer("postgres", REDIS_URL, tmp_path_factory.mktemp("a"), upstream.url)
    second = TollgateServer(
        "postgres", REDIS_URL, tmp_path_factory.mktemp("b"), upstream.url, beside=first
    )
    try:
        per_minute = first.key(f"two-a-{uuid.uuid4().hex[:6]}", rate=25)
        monthly = first.key(f"two-b-{uuid.uuid4().hex[:6]}", credits=30)
        first.start()
        second.start()
        before = upstream.count
        for raw, limit, refused in ((per_minute, 25, 429), (monthly, 30, 402)):
            ports = [first.port, second.port] * 30
            with ThreadPoolExecutor(24) as pool:
                statuses = list(pool.map(lambda port, raw=raw: call(port, FAST, raw), ports))
            assert statuses.count(200) == limit
            assert statuses.count(refused) == len(ports) - limit
        assert upstream.count - before == 25 + 30
        assert "counters match the call log" in first.manage("checkcounters")
        rows = first.manage(
            "shell", "-v", "0", "-c", "from usage.models import Call; print(Call.objects.count())"
        )
        assert int(rows) == 120
        # Alerts: both instances' senders see the same crossing; it goes out once.
        first.manage("setplan", "--monthly-credits", "100", "--thresholds", "50")
        first.manage("setplan", "--recipients", "ops@example.com")
        printed = "".join(instance.manage("sendalerts", "--once") for instance in (first, second))
        assert printed.count("To: ops@example.com") == 1  # no EMAIL_HOST: printed, not sent
    finally:
        second.stop()
        first.stop()

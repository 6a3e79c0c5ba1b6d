"""Limits hold exactly with several real server processes hammering one key.

Each test starts Tollgate as ``make run`` does (gunicorn, several worker processes and
threads) on a database of its own, against the simulated upstream, and fires a burst of
concurrent calls. Admitted calls must equal the limit: not one more, not one fewer.
Backends: SQLite always; PostgreSQL when DATABASE_URL points at one; Redis (as the
per-minute limiter) when REDIS_URL is set. CI's second pass sets both.
"""

import http.client
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devtools.simulator import SimulatedUpstream
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
TEAM_KEY = "CG-team-key-for-concurrency"
BURST = 90
PARALLEL = 24

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

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


class Server:
    """A Tollgate under gunicorn on a database of its own, plus a key to hammer it with."""

    def __init__(self, backend: str, redis_url: str, tmp_path: Path, upstream_url: str):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.database = None
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DATA_DIR": str(tmp_path / "data"),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "WEB_WORKERS": "3",
            "WEB_THREADS": "4",
            "UPSTREAM_URL": upstream_url,
            "UPSTREAM_API_KEY": TEAM_KEY,
        }
        if backend == "postgres":
            self.database = f"tollgate_conc_{uuid.uuid4().hex[:12]}"
            self._admin_sql(f'CREATE DATABASE "{self.database}"')
            self.env["DATABASE_URL"] = (
                urlsplit(DATABASE_URL)._replace(path="/" + self.database).geturl()
            )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["REDIS_PREFIX"] = f"tollgate-conc-{uuid.uuid4().hex}"
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage(
            "shell",
            "-v",
            "0",
            "-c",
            "from django.contrib.auth.models import User; User.objects.create_user('hammer')",
        )
        self.manage("setplan", "--rate-limit", "100000", "--monthly-credits", "1000000")
        self.process = None

    def _admin_sql(self, sql: str) -> None:
        import psycopg

        parts = urlsplit(DATABASE_URL)
        admin_url = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def manage(self, *args) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def key(self, label: str, *, rate=None, credits=None) -> str:
        args = ["createapikey", "--owner", "hammer", "--label", label]
        if rate:
            args += ["--rate-limit", str(rate)]
        if credits:
            args += ["--monthly-credits", str(credits)]
        return self.manage(*args).strip()

    def start(self) -> None:
        self.log = open(self.tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:dashboard.gunicorn_conf",
                "dashboard.wsgi",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call(self.port, "/api/v3/ping", None) == 401:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("Tollgate did not start:\n" + self.log_text())

    def log_text(self) -> str:
        self.log.flush()
        return (self.tmp_path / "gunicorn.log").read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5) -> bool:
        # The worker writes its access line after the answer has gone out.
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()
        if self.database:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def call(port: int, path: str, raw_key: str | None, via: str = "header") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {}
        if raw_key and via == "header":
            headers["x-cg-pro-api-key"] = raw_key
        elif raw_key:
            path += ("&" if "?" in path else "?") + f"x_cg_pro_api_key={raw_key}"
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


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
    instance = Server(backend, redis_url, tmp_path_factory.mktemp(backend), upstream.url)
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

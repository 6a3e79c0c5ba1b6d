"""/healthz and /readyz: what a load balancer or a process manager polls."""

import os
import time

import pytest
from django.db import connection
from django.db.utils import load_backend

from dashboard.ops import health
from tests.support import free_port
from usage.alerts import heartbeat
from usage.models import KeylessCalls

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_it_answers_healthz_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_it_answers_by_ip_address_without_a_login_or_a_session(client):
    # A load balancer asks for http://10.0.0.5:8000/readyz: no ALLOWED_HOSTS entry needed.
    response = client.get("/readyz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_it_is_never_counted_as_a_proxied_call(client):
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200
    assert not KeylessCalls.objects.exists()


def test_it_refuses_other_methods(client):
    assert client.post("/readyz").status_code == 405


def test_it_is_ready_without_redis_or_a_sender_when_neither_is_configured(client, settings):
    settings.REDIS_URL = ""
    settings.SENDALERTS_EXPECTED = False
    body = client.get("/readyz").json()
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "not configured", "alert_sender": "not expected"},
    }


def test_it_waits_for_the_alert_senders_heartbeat_when_one_is_expected(client, settings, data_dir):
    settings.SENDALERTS_EXPECTED = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["alert_sender"] == "no heartbeat yet"

    heartbeat.beat()
    assert client.get("/readyz").status_code == 200

    # A sender silent for 90 s (stuck or killed) makes the instance not ready.
    stale = time.time() - 90
    os.utime(heartbeat.heartbeat_path(), (stale, stale))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["alert_sender"].startswith("silent for 9")


def test_the_sender_beats_while_it_runs(settings, data_dir):
    """The real sendalerts loop, in a process of its own, leaves a fresh heartbeat."""
    import subprocess
    import sys

    from tests.servers import ROOT

    env = {**os.environ, "DATA_DIR": str(data_dir)}
    # Its own SQLite in data_dir (migrated first) or the suite's PostgreSQL server.
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    sender = subprocess.Popen(
        [sys.executable, "manage.py", "sendalerts", "--interval", "0.2"], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 20
        while heartbeat.age() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert heartbeat.age() is not None and heartbeat.age() < 5
    finally:
        sender.terminate()
        sender.wait(timeout=20)


def test_it_says_which_check_failed_when_redis_is_away(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] == "unavailable (ConnectionError)"
    assert checks["database"] == "ok"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_it_is_ready_with_a_real_redis(client, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"


def test_it_says_503_when_the_database_does_not_answer(client, monkeypatch, tmp_path):
    """A database that cannot be reached: SQLite in a folder that does not exist, or
    PostgreSQL on a port nobody listens on. No error message (it may name a host or a
    user) in the answer, only the kind of error."""
    broken = {**connection.settings_dict, "OPTIONS": dict(connection.settings_dict["OPTIONS"])}
    if connection.vendor == "sqlite":
        broken["NAME"] = str(tmp_path / "missing" / "tollgate.sqlite3")
    else:
        broken["PORT"] = free_port()
        broken["OPTIONS"].pop("pool", None)
    backend = load_backend(broken["ENGINE"])
    unreachable = backend.DatabaseWrapper(broken)
    monkeypatch.setattr(health, "connection", unreachable)
    try:
        response = client.get("/readyz")
    finally:
        unreachable.close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable (OperationalError)"
    assert str(tmp_path) not in response.content.decode()

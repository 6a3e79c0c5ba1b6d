"""A key's lifecycle against Tollgate as ``make run`` starts it (gunicorn worker processes,
each with its own database connection and nothing cached between calls): a roll with a
grace period, an expiry at the second, allowlists for IPv4 and IPv6 on loopback."""

import http.client
import json
import time

import pytest

from tests.servers import ON_POSTGRES, REDIS_URL, TollgateServer

pytestmark = pytest.mark.django_db
PRICE = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not PostgreSQL"),
    ),
]


def ask(server, raw_key, host=None) -> tuple[int, str]:
    """One call on a connection of its own (so the calls spread over the workers): the
    status and CoinGecko's error message, if any."""
    conn = http.client.HTTPConnection(host or server.host, server.port, timeout=30)
    try:
        conn.request("GET", PRICE, headers={"x-cg-pro-api-key": raw_key})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status == 200:
        return 200, ""
    return response.status, json.loads(body)["status"]["error_message"]


def shell(server, code: str) -> str:
    return server.manage("shell", "-v", "0", "-c", code).strip()


@pytest.fixture(params=BACKENDS)
def server(request, upstream, tmp_path):
    instance = TollgateServer(request.param, REDIS_URL, tmp_path, upstream.url)
    yield instance
    instance.stop()


def test_a_roll_with_grace_serves_both_values_across_workers_then_only_the_new_one(
    server, upstream
):
    old = server.key("rolling")
    server.start()
    assert {ask(server, old)[0] for _ in range(9)} == {200}
    new = server.manage("rollapikey", "--key", old[:11], "--grace", "1h").strip()
    assert new.startswith("tg_") and new != old
    assert {ask(server, raw)[0] for raw in [old, new] * 9} == {200}
    # An hour passes: the grace is made to end three seconds from now.
    ends = shell(
        server,
        "from datetime import timedelta; from django.utils import timezone; "
        "from keys.models import ApiKey; end = timezone.now() + timedelta(seconds=3); "
        "ApiKey.objects.update(previous_valid_until=end); print(end.timestamp())",
    )
    while time.time() < float(ends) - 1.0:
        assert ask(server, old)[0] == 200
        time.sleep(0.1)
    time.sleep(max(0.0, float(ends) - time.time()) + 0.05)
    refused = [ask(server, old) for _ in range(9)]
    assert {status for status, _ in refused} == {401}
    assert all("was rolled and its grace period is over" in message for _, message in refused)
    assert {ask(server, new)[0] for _ in range(9)} == {200}
    # One key's history: every call, with either value, under the same key.
    history = shell(
        server,
        "from usage.models import Call; "
        "print(sorted(set(Call.objects.values_list('key_id', flat=True))), Call.objects.count())",
    )
    key_ids, calls = history.rsplit(" ", 1)
    assert len(json.loads(key_ids)) == 1 and int(calls) >= 9 + 18 + 18


def test_a_key_stops_at_its_expiry_to_the_second(server, upstream):
    raw = server.key("expiring")
    server.start()
    expires = shell(
        server,
        "from datetime import timedelta; from django.utils import timezone; "
        "from keys.models import ApiKey; end = timezone.now() + timedelta(seconds=3); "
        "ApiKey.objects.update(expires_at=end); print(end.timestamp())",
    )
    expires = float(expires)
    served = 0
    while time.time() < expires - 1.0:
        assert ask(server, raw)[0] == 200
        served += 1
        time.sleep(0.05)
    time.sleep(max(0.0, expires - time.time()) + 0.02)
    status, message = ask(server, raw)
    assert status == 401 and message.startswith("API Key Expired.")
    assert upstream.count == served
    outcomes = shell(
        server,
        "from usage.models import Call; print(Call.objects.filter(outcome='key_expired').count())",
    )
    assert outcomes == "1"


def test_allowlists_on_ipv4_and_ipv6_loopback(server, upstream, tmp_path):
    keys = {
        "v4": server.key("v4 only", "--allow-ips", "127.0.0.1"),
        "v6": server.key("v6 only", "--allow-ips", "::1"),
        "elsewhere": server.key("elsewhere", "--allow-ips", "10.0.0.0/8,2001:db8::/32"),
        "both": server.key("both", "--allow-ips", "127.0.0.0/8,::1/128"),
        "any": server.key("any"),
    }
    server.start()
    (tmp_path / "six").mkdir()
    six = TollgateServer("", "", tmp_path / "six", upstream.url, beside=server, HOST="[::1]")
    six.start()
    try:
        from_v4 = {name: ask(server, raw, "127.0.0.1")[0] for name, raw in keys.items()}
        from_v6 = {name: ask(six, raw, "::1")[0] for name, raw in keys.items()}
        status, message = ask(six, keys["v4"], "::1")
    finally:
        six.stop()
    assert from_v4 == {"v4": 200, "v6": 403, "elsewhere": 403, "both": 200, "any": 200}
    assert from_v6 == {"v4": 403, "v6": 200, "elsewhere": 403, "both": 200, "any": 200}
    assert "allowlist" in message
    assert upstream.count == 6  # the refused calls never reached it
    refused = shell(
        server,
        "from usage.models import Call; "
        "print(Call.objects.filter(outcome='address_refused', status=403).count())",
    )
    assert refused == "5"

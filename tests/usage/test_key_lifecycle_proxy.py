"""The proxy and a key's lifecycle: a rolled key's two values, expiry to the second, the
address allowlist (IPv4 and IPv6 through the test client's REMOTE_ADDR; real sockets on
loopback are in test_key_lifecycle_processes.py)."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from keys.services import key_roll, key_set_access
from usage.models import Call, HourUsage, KeylessCalls

pytestmark = pytest.mark.django_db
PRICE = "/api/v3/simple/price"


def error(response):
    body = json.loads(response.content)
    return response.status_code, body["status"]["error_code"], body["status"]["error_message"]


def get(client, raw_key, address="127.0.0.1"):
    return client.get(PRICE, {"ids": "bitcoin"}, HTTP_X_CG_PRO_API_KEY=raw_key, REMOTE_ADDR=address)


class TestRoll:
    def test_both_values_work_during_the_grace_then_only_the_new_one(
        self, client, api, upstream, clock
    ):
        old = api.raw
        key, new = key_roll(key=api.key, grace=timedelta(hours=1))
        assert get(client, old).status_code == 200
        assert get(client, new).status_code == 200
        clock.advance(minutes=59, seconds=59)
        assert get(client, old).status_code == 200
        clock.advance(seconds=1)
        status, code, message = error(get(client, old))
        assert (status, code) == (401, 10001)
        assert "rolled" in message and "grace period is over" in message
        assert get(client, new).status_code == 200
        assert len(upstream.requests) == 4  # the refused call never reached it

    def test_calls_with_either_value_are_one_keys_history(self, client, api, upstream, clock):
        old = api.raw
        get(client, old)
        _key, new = key_roll(key=api.key, grace=timedelta(hours=24))
        get(client, old)
        get(client, new)
        assert list(Call.objects.values_list("key_id", flat=True)) == [api.key.pk] * 3
        assert (
            sum(HourUsage.objects.filter(key_ref=api.key.pk).values_list("calls", flat=True)) == 3
        )

    def test_the_report_and_the_csv_show_one_key_under_its_new_prefix(
        self, owner_client, api, upstream, settings
    ):
        settings.TIME_ZONE = "UTC"
        old = api.raw
        get(owner_client, old)
        key, new = key_roll(key=api.key, grace=timedelta(hours=1))
        get(owner_client, old)
        get(owner_client, new)
        today = timezone.now().date().isoformat()
        response = owner_client.get("/usage/export.csv", {"start": today, "end": today})
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [row[1:4] for row in rows[1:]] == [["pricing bot", key.prefix, "3"]]
        report = owner_client.get("/usage/").content.decode()
        assert report.count("data-key-id=") == 1  # one row in the month's table
        assert re.search(r'data-col="requests"[^>]*>3 requests', report) and key.prefix in report
        assert key.previous_prefix not in report

    def test_a_roll_without_grace_stops_the_old_value_at_once(self, client, api, upstream, clock):
        old = api.raw
        _key, new = key_roll(key=api.key, grace=timedelta(0))
        assert error(get(client, old))[0] == 401
        assert get(client, new).status_code == 200

    def test_rolling_again_stops_the_value_before_at_once(self, client, api, upstream, clock):
        first = api.raw
        _key, second = key_roll(key=api.key, grace=timedelta(days=7))
        _key, third = key_roll(key=api.key, grace=timedelta(days=7))
        assert error(get(client, first))[0] == 401
        assert get(client, second).status_code == 200
        assert get(client, third).status_code == 200


class TestExpiry:
    def test_a_key_works_until_the_second_it_expires(self, client, api, upstream, clock):
        key_set_access(key=api.key, expires_at=clock.now + timedelta(seconds=30), allowed_ips="")
        clock.advance(seconds=29)
        assert get(client, api.raw).status_code == 200
        clock.advance(seconds=1)
        response = get(client, api.raw)
        status, code, message = error(response)
        assert (status, code) == (401, 10001)
        assert message.startswith("API Key Expired.") and "Invalid" not in message
        assert response["Content-Type"] == "application/json"
        assert len(upstream.requests) == 1

    def test_an_expired_call_has_its_own_outcome_under_its_key(self, client, api, upstream, clock):
        key_set_access(key=api.key, expires_at=clock.now + timedelta(seconds=1), allowed_ips="")
        clock.advance(seconds=5)
        get(client, api.raw)
        call = Call.objects.get()
        assert (call.key_id, call.status, call.outcome, call.credits) == (
            api.key.pk,
            401,
            "key_expired",
            0,
        )
        assert HourUsage.objects.get(key_ref=api.key.pk).outcome == "key_expired"
        assert not KeylessCalls.objects.exists()

    def test_rolling_an_expiring_key_keeps_its_expiry(self, client, api, upstream, clock):
        key_set_access(key=api.key, expires_at=clock.now + timedelta(hours=2), allowed_ips="")
        _key, new = key_roll(key=api.key, grace=timedelta(days=7))
        clock.advance(hours=2)
        assert error(get(client, new))[:2] == (401, 10001)
        assert error(get(client, api.raw))[2].startswith("API Key Expired.")


class TestAllowlist:
    @pytest.mark.parametrize(
        "allowed, address",
        [
            ("10.1.0.0/16", "10.1.200.3"),
            ("192.0.2.7", "192.0.2.7"),
            ("2001:db8::/32", "2001:db8:ffff::1"),
            ("::1", "::1"),
            ("10.1.0.0/16", "::ffff:10.1.0.9"),  # an IPv4 client on a dual-stack socket
            ("fe80::/10", "fe80::1%eth0"),
            ("203.0.113.0/24, 2001:db8::/32", "2001:db8::5"),
        ],
    )
    def test_an_address_on_the_list_is_served(self, client, api, upstream, allowed, address):
        key_set_access(key=api.key, expires_at=None, allowed_ips=allowed)
        assert get(client, api.raw, address).status_code == 200

    @pytest.mark.parametrize(
        "allowed, address",
        [
            ("10.1.0.0/16", "10.2.0.1"),
            ("192.0.2.7", "192.0.2.8"),
            ("2001:db8::/32", "2001:db9::1"),
            ("127.0.0.1", "::1"),  # loopback in the other family is another address
            ("10.0.0.0/8", ""),  # no address at all (a Unix socket)
        ],
    )
    def test_any_other_address_gets_403_and_never_reaches_the_upstream(
        self, client, api, upstream, allowed, address
    ):
        key_set_access(key=api.key, expires_at=None, allowed_ips=allowed)
        response = get(client, api.raw, address)
        status, code, message = error(response)
        assert (status, code) == (403, 403)
        assert "allowlist" in message
        assert upstream.requests == []
        call = Call.objects.get()
        assert (call.key_id, call.outcome, call.status) == (api.key.pk, "address_refused", 403)

    def test_behind_a_trusted_proxy_the_forwarded_client_is_checked(
        self, client, api, upstream, settings
    ):
        settings.TRUSTED_PROXIES = ["127.0.0.1"]
        settings.MIDDLEWARE = ["dashboard.forwarded.ForwardedForMiddleware", *settings.MIDDLEWARE]
        key_set_access(key=api.key, expires_at=None, allowed_ips="10.1.0.0/16")
        via_nginx = {"HTTP_X_FORWARDED_FOR": "10.1.2.3"}
        assert client.get(PRICE, HTTP_X_CG_PRO_API_KEY=api.raw, **via_nginx).status_code == 200
        # nginx itself is not on the list, and a client's own header proves nothing.
        assert error(get(client, api.raw, "127.0.0.1"))[0] == 403
        forged = client.get(
            PRICE, HTTP_X_CG_PRO_API_KEY=api.raw, REMOTE_ADDR="192.0.2.9", **via_nginx
        )
        assert forged.status_code == 403

    def test_by_default_a_forwarded_header_is_not_believed(self, client, api, upstream):
        key_set_access(key=api.key, expires_at=None, allowed_ips="10.1.0.0/16")
        response = client.get(PRICE, HTTP_X_CG_PRO_API_KEY=api.raw, HTTP_X_FORWARDED_FOR="10.1.2.3")
        assert response.status_code == 403 and upstream.requests == []

    def test_without_a_list_every_address_is_served(self, client, api, upstream):
        for address in ("10.9.9.9", "2001:db8::1", "127.0.0.1"):
            assert get(client, api.raw, address).status_code == 200

    def test_a_refused_call_costs_no_credit(self, client, api, upstream):
        key_set_access(key=api.key, expires_at=None, allowed_ips="10.0.0.0/8")
        get(client, api.raw, "192.0.2.1")
        assert Call.objects.get().credits == 0
        answer = client.get("/api/v3/key", HTTP_X_CG_PRO_API_KEY=api.raw, REMOTE_ADDR="10.0.0.1")
        assert json.loads(answer.content)["api_key_current_total_monthly_calls"] == 0

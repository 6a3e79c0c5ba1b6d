"""TRUSTED_PROXIES: the client's address from X-Forwarded-For, believed only from a proxy
named in the setting; the usage log and the login throttle both use it."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from dashboard.forwarded import client_address, trusted_networks
from usage.models import KeylessCalls

pytestmark = pytest.mark.django_db
NGINX = trusted_networks(["127.0.0.1", "10.1.0.0/16"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        # A client's own X-Forwarded-For is kept left of what nginx appended: ignored.
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        # Two trusted hops (a load balancer in 10.1/16, then nginx).
        ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),
        # From an address nobody vouched for, the header is anyone's forgery.
        ("198.51.100.1", "10.9.9.9", "198.51.100.1"),
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_it_finds_the_client_behind_trusted_proxies(peer, forwarded_for, expected):
    assert client_address(peer, forwarded_for, NGINX) == expected


@pytest.fixture
def behind_nginx(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.MIDDLEWARE = ["dashboard.forwarded.ForwardedForMiddleware", *settings.MIDDLEWARE]


def test_the_usage_log_records_the_forwarded_client(client, behind_nginx):
    client.get("/api/v3/ping", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert list(KeylessCalls.objects.values_list("address", flat=True)) == ["203.0.113.7"]


def test_the_login_throttle_counts_the_forwarded_client(client, behind_nginx, staff):
    client.post(
        reverse("login"),
        {"username": "carol", "password": "wrong"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_by_default_the_header_is_not_believed(client, settings):
    assert settings.TRUSTED_PROXIES == []
    client.get("/api/v3/ping", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert list(KeylessCalls.objects.values_list("address", flat=True)) == ["127.0.0.1"]

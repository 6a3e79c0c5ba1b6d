"""Security headers on the console: a CSP without inline script or style everywhere, and
HSTS once the console is served over https (SECURE_COOKIES on)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

CONSOLE_PAGES = ["home", "keys:list", "keys:create", "usage:report", "usage:history"]


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_console_pages_forbid_inline_script_and_style(owner_client, name):
    response = owner_client.get(reverse(name))
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_the_login_page_carries_it_too(client):
    assert "script-src 'self'" in client.get(reverse("login"))["Content-Security-Policy"]


def test_permissions_policy_refuses_features_the_console_never_uses(owner_client):
    policy = owner_client.get(reverse("home"))["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy


def test_no_hsts_over_plain_http(owner_client):
    assert "Strict-Transport-Security" not in owner_client.get(reverse("home"))


def test_hsts_behind_an_https_proxy_when_secure_cookies_is_on(owner_client, settings):
    # What settings.py sets when SECURE_COOKIES is on; SecurityMiddleware reads these per
    # request, so overriding them here is what a start with SECURE_COOKIES=on does.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    response = owner_client.get(reverse("home"), HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert "Permissions-Policy" in response


def test_a_start_with_secure_cookies_turns_hsts_on(tmp_path):
    from tests.dashboard.test_settings import manage

    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE)"
    )
    on = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path, SECURE_COOKIES="on")
    assert on.stdout.split() == ["31536000", "('HTTP_X_FORWARDED_PROTO',", "'https')", "True"]
    off = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path, SECURE_COOKIES="off")
    assert off.stdout.split() == ["0", "None", "False"]

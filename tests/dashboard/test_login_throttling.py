"""Login throttling (django-axes): a few wrong passwords for one username from one address
pause that login, on the console and the admin alike; staff see the attempts and lift them."""

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from tests.support import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_PAGES = [reverse("login"), reverse("admin:login")]
LOCKED = "Too many failed logins for this username from your address"
ATTEMPTS = reverse("admin:axes_accessattempt_changelist")


def log_in(client, url, password, username="carol", address="10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, url, times=None, **who):
    for _ in range(times or settings.AXES_FAILURE_LIMIT):
        response = log_in(client, url, "wrong", **who)
    return response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_failures_below_the_limit_get_the_usual_error(client, staff, url):
    response = fail(client, url, times=settings.AXES_FAILURE_LIMIT - 1)
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert log_in(client, url, PASSWORD).status_code == 302
    assert logged_in(client)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_limit_locks_even_the_right_password_out(client, staff, url):
    response = fail(client, url)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "15 minutes" in response.content.decode()
    response = log_in(client, url, PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not logged_in(client)


def test_the_lock_is_for_that_username_from_that_address(client, staff, owner):
    fail(client, reverse("login"))
    assert log_in(client, reverse("login"), PASSWORD, username="alice").status_code == 302
    client.logout()
    assert log_in(client, reverse("login"), PASSWORD, address="10.0.0.2").status_code == 302


def test_a_success_clears_earlier_failures(client, staff):
    fail(client, reverse("login"), times=settings.AXES_FAILURE_LIMIT - 1)
    log_in(client, reverse("login"), PASSWORD)
    client.logout()
    response = fail(client, reverse("login"), times=settings.AXES_FAILURE_LIMIT - 1)
    assert response.status_code == 200


def test_the_lock_lifts_after_the_cool_off(client, staff):
    fail(client, reverse("login"))
    assert log_in(client, reverse("login"), PASSWORD).status_code == 429
    locked_at = AccessAttempt.objects.get().attempt_time
    AccessAttempt.objects.update(attempt_time=locked_at - timedelta(minutes=16))
    assert log_in(client, reverse("login"), PASSWORD).status_code == 302
    assert logged_in(client)


def test_staff_see_the_attempts_without_the_password(client, staff, owner):
    fail(client, reverse("login"), username="alice", address="10.9.8.7")
    client.force_login(staff)
    body = client.get(ATTEMPTS).content.decode()
    assert "alice" in body and "10.9.8.7" in body
    attempt = AccessAttempt.objects.get()
    detail = client.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk]))
    assert "wrong" not in detail.content.decode()
    assert "wrong" not in attempt.post_data


def test_staff_unlock_in_the_admin(client, staff, owner):
    fail(client, reverse("login"), username="alice")
    attempt = AccessAttempt.objects.get()
    client.force_login(staff)
    response = client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    client.logout()
    assert log_in(client, reverse("login"), PASSWORD, username="alice").status_code == 302


def test_axes_reset_unlocks_from_the_command_line(client, owner):
    fail(client, reverse("login"), username="alice")
    call_command("axes_reset_username", "alice", stdout=io.StringIO())
    assert log_in(client, reverse("login"), PASSWORD, username="alice").status_code == 302

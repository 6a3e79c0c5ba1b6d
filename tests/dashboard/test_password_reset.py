""" "Forgot password?": Django's reset emails through a real SMTP server on loopback."""

import pytest
from django.urls import reverse

from tests.support import PASSWORD, free_port, logs_in

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-new-and-long-passphrase-42"


def ask_for_a_link(client, email="alice@example.com", **extra):
    return client.post(reverse("password_reset"), {"email": email}, **extra)


def test_the_login_page_offers_it(client):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in page and "Forgot password?" in page


def test_it_emails_a_link_that_sets_a_new_password_once(client, owner, inbox):
    response = ask_for_a_link(client)
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert [rcpt for rcpt, _ in inbox.messages] == [["alice@example.com"]]
    assert "Subject: Tollgate: set a new password for alice" in inbox.messages[0][1]
    [link] = inbox.links()
    assert link.startswith("http://127.0.0.1:8000/accounts/reset/")

    path = link.removeprefix("http://127.0.0.1:8000")
    form_url = client.get(path).url  # Django moves the token into the session
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")

    assert logs_in(client, "alice", NEW_PASSWORD)
    assert not logs_in(client, "alice", PASSWORD)
    # Used once: the same link now says so.
    again = client.get(path, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_it_never_says_whether_an_address_has_an_account(client, owner, inbox):
    known = ask_for_a_link(client)
    unknown = ask_for_a_link(client, email="nobody@example.com")
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert len(inbox.messages) == 1


def test_the_link_points_at_console_url_not_at_the_host_header(client, owner, inbox, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CONSOLE_URL = "https://tollgate.example.com"
    ask_for_a_link(client, HTTP_HOST="attacker.example")
    [link] = inbox.links()
    assert link.startswith("https://tollgate.example.com/accounts/reset/")
    assert "attacker" not in inbox.messages[0][1]


def test_a_deactivated_member_gets_no_link(client, owner, inbox):
    owner.is_active = False
    owner.save()
    assert ask_for_a_link(client).status_code == 302
    assert inbox.messages == []


def test_a_mail_server_that_is_down_is_logged_not_shown(client, owner, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    response = ask_for_a_link(client)
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert "Failed to send password reset email" in caplog.text


def test_without_an_smtp_server_the_email_goes_to_the_log(client, owner, settings, capsys):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    ask_for_a_link(client)
    assert "/accounts/reset/" in capsys.readouterr().out

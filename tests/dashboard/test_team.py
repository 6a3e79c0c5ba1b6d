"""The Team page: staff invite teammates by email (a real SMTP server on loopback),
resend and revoke invitations, and deactivate members, whose keys stop at once."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dashboard.team.models import Invitation
from dashboard.team.tokens import invite_tokens
from tests.support import PASSWORD, free_port, logs_in

pytestmark = pytest.mark.django_db
TEAM = reverse("team:page")
NEW_PASSWORD = "a-new-and-long-passphrase-42"


def invite(client, name="Dana Scully", email="dana@example.com"):
    return client.post(reverse("team:invite"), {"name": name, "email": email})


def accept(link: str, password: str = NEW_PASSWORD):
    """The invitee opens ``link`` in a browser of their own and sets a password."""
    invitee = Client()
    path = link.split("://", 1)[1].split("/", 1)[1]
    opened = invitee.get("/" + path)
    if opened.status_code != 302:
        return invitee, opened
    return invitee, invitee.post(opened.url, {"new_password1": password, "new_password2": password})


def test_only_staff_see_the_team_page(client, staff_client, owner):
    assert staff_client.get(TEAM).status_code == 200
    member = Client()
    member.force_login(owner)
    assert member.get(TEAM).status_code == 403
    assert (
        member.post(reverse("team:invite"), {"name": "x", "email": "x@example.com"}).status_code
        == 403
    )
    assert "Team" not in member.get(reverse("home")).content.decode().split("<main")[0]


def test_an_invitation_creates_the_account_and_emails_a_link(staff_client, inbox):
    response = invite(staff_client)
    assert response.status_code == 302
    user = User.objects.get(email="dana@example.com")
    assert (user.username, user.first_name, user.last_name) == (
        "dana@example.com",
        "Dana",
        "Scully",
    )
    assert not user.has_usable_password()
    assert [rcpt for rcpt, _ in inbox.messages] == [["dana@example.com"]]
    assert "Subject: You are invited to the team's Tollgate" in inbox.messages[0][1]
    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    assert link.startswith("http://127.0.0.1:8000/team/welcome/")
    page = staff_client.get(TEAM).content.decode()
    assert "Invitation sent to dana@example.com" in page
    assert "dana@example.com" in page.split("Pending invitations")[1].split("Members")[0]


def test_the_invitee_sets_a_password_is_logged_in_and_leaves_the_list(staff_client, inbox):
    invite(staff_client)
    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    invitee, done = accept(link)
    assert done.status_code == 302 and done.url == reverse("home")
    assert invitee.get(reverse("home")).status_code == 200  # logged in
    assert logs_in(Client(), "dana@example.com", NEW_PASSWORD)
    assert Invitation.objects.get().accepted_at is not None
    page = staff_client.get(TEAM).content.decode()
    pending = page.split("Pending invitations")[1].split("Members")[0]
    assert "dana@example.com" not in pending
    assert "dana@example.com" in page.split("Members")[1]
    # The link was for one use.
    _, again = accept(link)
    assert "This invitation no longer works" in again.content.decode()


def test_resend_sends_a_fresh_link(staff_client, inbox):
    invite(staff_client)
    invitation = Invitation.objects.get()
    assert staff_client.post(reverse("team:resend", args=[invitation.pk])).status_code == 302
    assert len(inbox.messages) == 2
    first, second = inbox.links(r"http://\S+/team/welcome/\S+")
    _, done = accept(second)
    assert done.status_code == 302
    # Either link sets the password once; after that neither works.
    _, stale = accept(first)
    assert "This invitation no longer works" in stale.content.decode()


def test_revoke_stops_the_link_and_removes_the_account(staff_client, inbox):
    invite(staff_client)
    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    invitation = Invitation.objects.get()
    assert staff_client.post(reverse("team:revoke", args=[invitation.pk])).status_code == 302
    assert not User.objects.filter(email="dana@example.com").exists()
    _, response = accept(link)
    assert "This invitation no longer works" in response.content.decode()
    # The address can be invited again.
    assert invite(staff_client).status_code == 302


def test_a_used_invitation_cannot_be_revoked_or_resent(staff_client, inbox):
    invite(staff_client)
    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    accept(link)
    invitation = Invitation.objects.get()
    assert staff_client.post(reverse("team:revoke", args=[invitation.pk])).status_code == 404
    assert staff_client.post(reverse("team:resend", args=[invitation.pk])).status_code == 404
    assert User.objects.get(email="dana@example.com").is_active


def test_an_address_already_on_the_team_is_refused_inline(staff_client, owner, inbox):
    response = invite(staff_client, email="ALICE@example.com")
    assert response.status_code == 400
    assert "already has this email address" in response.content.decode()
    bad = invite(staff_client, email="not an address")
    assert bad.status_code == 400 and "Enter a valid email address" in bad.content.decode()
    assert inbox.messages == [] and not Invitation.objects.exists()


def test_a_mail_server_that_is_down_loses_nothing(staff_client, settings, inbox):
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens there
    response = invite(staff_client)
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert "ConnectionRefusedError" in invitation.send_error and invitation.sent_at is None
    page = staff_client.get(TEAM).content.decode()
    assert "the email could not be sent" in page and "not sent: ConnectionRefusedError" in page

    settings.EMAIL_PORT = working_port
    staff_client.post(reverse("team:resend", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.send_error == "" and invitation.sent_at is not None
    assert [rcpt for rcpt, _ in inbox.messages] == [["dana@example.com"]]


def test_an_invitation_lasts_longer_than_a_reset_link(staff_client, inbox, settings, monkeypatch):
    settings.PASSWORD_RESET_TIMEOUT = 2 * 3600
    settings.INVITE_VALID_DAYS = 7
    invite(staff_client)
    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    made = datetime.now()  # naive, as Django's token clock is
    monkeypatch.setattr(invite_tokens, "_now", lambda: made + timedelta(days=6, hours=23))
    invitee, done = accept(link)
    assert done.status_code == 302  # still good after almost a week

    monkeypatch.undo()  # back to the real clock for the next invitation
    invite(staff_client, email="eve@example.com", name="Eve")
    late_link = inbox.links(r"http://\S+/team/welcome/\S+")[-1]
    monkeypatch.setattr(invite_tokens, "_now", lambda: made + timedelta(days=7, hours=1))
    _, expired = accept(late_link)
    assert "This invitation no longer works" in expired.content.decode()


def test_a_password_reset_token_does_not_open_the_invitation_page(staff_client, inbox):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    invite(staff_client)
    user = User.objects.get(email="dana@example.com")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    forged = reverse("team:accept", args=[uid, default_token_generator.make_token(user)])
    _, response = accept("http://127.0.0.1:8000" + forged)
    assert "This invitation no longer works" in response.content.decode()


def test_deactivating_a_member_stops_their_keys_and_their_session_at_once(
    client, staff_client, owner, owner_key
):
    _key, raw = owner_key
    member = Client()
    member.force_login(owner)
    assert client.get("/api/v3/ping", HTTP_X_CG_PRO_API_KEY=raw).status_code == 200

    confirm = staff_client.get(reverse("team:deactivate", args=[owner.pk]))
    assert "their 1 active key gets 401" in " ".join(confirm.content.decode().split())
    assert staff_client.post(reverse("team:deactivate", args=[owner.pk])).status_code == 302

    refused = client.get("/api/v3/ping", HTTP_X_CG_PRO_API_KEY=raw)
    assert refused.status_code == 401
    assert "deactivated" in refused.json()["status"]["error_message"]
    assert member.get(reverse("home")).status_code == 302  # sent to the login page
    assert not logs_in(Client(), "alice", PASSWORD)

    assert staff_client.post(reverse("team:reactivate", args=[owner.pk])).status_code == 302
    assert client.get("/api/v3/ping", HTTP_X_CG_PRO_API_KEY=raw).status_code == 200


def test_staff_cannot_deactivate_themselves(staff_client, staff):
    staff_client.post(reverse("team:deactivate", args=[staff.pk]))
    staff.refresh_from_db()
    assert staff.is_active
    assert "cannot deactivate your own account" in staff_client.get(TEAM).content.decode()


def test_every_team_form_wants_its_csrf_token(staff, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert (
        browser.post(reverse("team:invite"), {"name": "x", "email": "x@example.com"}).status_code
        == 403
    )
    assert browser.post(reverse("team:deactivate", args=[owner.pk])).status_code == 403
    owner.refresh_from_db()
    assert owner.is_active

"""Inviting a teammate as staff and people do it, in a real headless Chromium: staff fill
in the Team page's form, the email arrives at a real SMTP server on loopback, the invitee
opens its link in a browser of their own, sets a password and is in."""

import pytest
from playwright.sync_api import expect

from tests.support import Inbox, log_in, smtp_on_loopback

pytestmark = pytest.mark.e2e


@pytest.fixture
def inbox(settings, live_server):
    received = Inbox()
    controller = smtp_on_loopback(settings, received)
    settings.CONSOLE_URL = live_server.url  # the links in the email lead to this server
    yield received
    controller.stop()


def test_staff_invite_a_teammate_who_sets_a_password_and_logs_in(
    browser, page, live_server, staff, inbox
):
    refused = []  # the Team page under the console's Content-Security-Policy
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    log_in(page, live_server, username="carol")
    page.get_by_role("link", name="Team", exact=True).click()
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    page.get_by_label("Name").fill("Dana Scully")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to dana@example.com")
    expect(page.get_by_test_id("invitations")).to_contain_text("dana@example.com")

    [link] = inbox.links(r"http://\S+/team/welcome/\S+")
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        invitee = context.new_page()
        invitee.goto(link)
        expect(invitee.get_by_test_id("invitee")).to_have_text("dana@example.com")
        invitee.locator("#id_new_password1").fill("a-new-and-long-passphrase-42")
        invitee.locator("#id_new_password2").fill("a-new-and-long-passphrase-42")
        invitee.get_by_role("button", name="Set password and log in").click()
        expect(invitee.get_by_test_id("username")).to_have_text("dana@example.com")
        expect(invitee.get_by_role("status")).to_contain_text("your password is set")
    finally:
        context.close()

    page.reload()
    expect(page.get_by_test_id("invitations")).to_have_count(0)
    expect(page.get_by_test_id("members")).to_contain_text("dana@example.com")
    assert refused == []


def test_the_login_page_leads_to_forgot_password(page, live_server, owner, inbox):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    [link] = inbox.links(r"http://\S+/accounts/reset/\S+")
    page.goto(link)
    page.locator("#id_new_password1").fill("a-new-and-long-passphrase-42")
    page.locator("#id_new_password2").fill("a-new-and-long-passphrase-42")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()

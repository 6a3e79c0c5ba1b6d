"""Rolling a key, and giving one an expiry and an allowlist, as a user does it in a real
headless Chromium: with htmx, and with JavaScript off."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from keys.models import ApiKey
from keys.services import key_create
from tests.support import authenticated, log_in

pytestmark = pytest.mark.e2e


def key_row(page, pk):
    return page.locator(f'[data-testid="key-table"] tr[data-key-id="{pk}"]')


def test_roll_a_key_with_a_grace_period(page, live_server, owner):
    key, old = key_create(owner=owner, label="pricing bot")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    page.evaluate("window.__marker = 1")

    key_row(page, key.pk).get_by_role("link", name="Roll").click()
    expect(page.get_by_test_id("roll-confirm")).to_contain_text("Roll “pricing bot”?")
    page.get_by_label("Keep the old key working for 24 hours").check()
    page.get_by_role("button", name="Roll Key").click()

    raw_field = page.get_by_test_id("raw-key")
    expect(raw_field).to_be_visible()
    new = raw_field.input_value()
    assert new.startswith("tg_") and new != old
    # As a new key: focused for copying, and Escape does not throw away what is shown once.
    expect(raw_field).to_be_focused()
    page.keyboard.press("Escape")
    expect(raw_field).to_be_visible()
    expect(page.get_by_test_id("old-key-until")).to_contain_text(
        f"The old key {old[:11]}… keeps working until"
    )
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert authenticated(new) == authenticated(old) == key.pk

    # The table, swapped in place: the new value, and the old one with when it stops.
    row = key_row(page, key.pk)
    expect(row.locator("code").first).to_have_text(new[:11] + "…")
    until = ApiKey.objects.get().previous_valid_until
    expect(row.get_by_test_id("old-key")).to_have_text(
        re.compile(rf"old {re.escape(old[:11])}… works until {until:%Y-%m-%d %H:%M}")
    )

    # Shown once: gone after a reload.
    page.reload()
    assert new not in page.content()
    expect(key_row(page, key.pk).get_by_test_id("old-key")).to_be_visible()


def test_roll_a_key_without_javascript(page_no_js, live_server, owner):
    page = page_no_js
    key, old = key_create(owner=owner, label="pricing bot")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    key_row(page, key.pk).get_by_role("link", name="Roll").click()
    expect(page).to_have_url(f"{live_server.url}/keys/{key.pk}/roll/")
    page.get_by_label("Stop the old key now (choose this if it leaked)").check()
    page.get_by_role("button", name="Roll Key").click()
    new = page.get_by_test_id("raw-key").input_value()
    expect(page.get_by_test_id("old-key-until")).to_contain_text("no longer works")
    assert authenticated(new) == key.pk and authenticated(old) is None


def test_give_a_key_an_expiry_and_an_allowlist(page, live_server, owner, settings):
    settings.TIME_ZONE = "UTC"
    key, _ = key_create(owner=owner, label="contractor")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    key_row(page, key.pk).get_by_role("link", name="Edit").click()

    # A malformed network: the error beside the field, nothing saved.
    page.get_by_label("Allowed addresses").fill("10.1.0.0/16, 10.2.0.0/99")
    page.get_by_role("button", name="Confirm").click()
    expect(
        page.get_by_text("“10.2.0.0/99” is not an IPv4 or IPv6 address or network")
    ).to_be_visible()
    assert ApiKey.objects.get().allowed_ips == ""

    soon = (ApiKey.objects.get().created_at + timedelta(days=3)).replace(second=0, microsecond=0)
    page.get_by_label("Allowed addresses").fill("10.1.0.0/16, 2001:db8::/32")
    page.get_by_label("Expires (UTC)").fill(soon.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#key-panel").get_by_text("Saved “contractor”.")).to_be_visible()

    stored = ApiKey.objects.get()
    assert (stored.allowed_ips, stored.expires_at) == ("10.1.0.0/16, 2001:db8::/32", soon)
    row = key_row(page, key.pk)
    expect(row.get_by_test_id("key-allowlist")).to_have_text("only from 10.1.0.0/16, 2001:db8::/32")
    expect(row.get_by_test_id("key-expiry")).to_contain_text(f"expires {soon:%Y-%m-%d %H:%M}")
    expect(page.get_by_test_id("keys-expiring")).to_contain_text("“contractor”")

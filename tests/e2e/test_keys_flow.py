"""The API Keys page as a user drives it, in a real headless Chromium.

Log in through the form, add a key, see it once, edit and delete it; with htmx (no full
page reloads) and with JavaScript off (plain form posts and redirects).
"""

import re

import pytest
from playwright.sync_api import expect

from keys.crypto import DISPLAY_LENGTH, KEY_PREFIX
from keys.models import ApiKey
from keys.services import DUPLICATE_LABEL
from tests.support import authenticated, log_in

pytestmark = pytest.mark.e2e


def open_keys_page(page, live_server):
    page.get_by_role("link", name="API Keys", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(page.get_by_role("heading", name="API Keys")).to_be_visible()


def key_row(page, pk):
    return page.locator(f'[data-testid="key-table"] tr[data-key-id="{pk}"]')


def set_marker(page):
    """Mark the window; the marker survives htmx swaps but not a page load."""
    page.evaluate("window.__marker = 1")


def assert_no_reload(page):
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"


def add_key(page, label):
    """Click "+ Add New Key", submit ``label`` and return the raw key shown."""
    page.get_by_role("link", name="+ Add New Key").click()
    page.get_by_label("Label").fill(label)
    page.get_by_role("button", name="Create key").click()
    raw_field = page.get_by_test_id("raw-key")
    expect(raw_field).to_be_visible()
    raw = raw_field.input_value()
    assert raw.startswith(KEY_PREFIX)
    expect(page.get_by_text("will not be shown again")).to_be_visible()
    return raw


def test_add_edit_delete_key_with_htmx(page, live_server, owner):
    log_in(page, live_server)
    open_keys_page(page, live_server)
    expect(page.get_by_test_id("no-keys")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"

    # Add: the raw key is shown once, in the panel, and the table updates in place.
    set_marker(page)
    raw = add_key(page, "pricing bot")
    assert_no_reload(page)
    key = ApiKey.objects.get(pk=authenticated(raw))
    assert key is not None
    assert key.owner == owner
    assert key.label == "pricing bot"
    masked = raw[:DISPLAY_LENGTH] + "…"
    expect(key_row(page, key.pk).locator("code")).to_have_text(masked)

    # Reload: the raw key is gone for good, only its masked form is listed.
    page.reload()
    assert raw not in page.content()
    expect(page.get_by_test_id("raw-key")).to_have_count(0)
    row = key_row(page, key.pk)
    expect(row.locator(".key-label")).to_have_text("pricing bot")
    expect(row.locator("code")).to_have_text(masked)

    # Edit: the form opens in the panel; Confirm saves and swaps the table, no reload.
    set_marker(page)
    row.get_by_role("link", name="Edit").click()
    label_field = page.get_by_label("Label")
    expect(label_field).to_have_value("pricing bot")
    label_field.fill("pricing bot v2")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Saved “pricing bot v2”.")
    expect(key_row(page, key.pk).locator(".key-label")).to_have_text("pricing bot v2")
    assert_no_reload(page)
    key.refresh_from_db()
    assert key.label == "pricing bot v2"
    assert authenticated(raw) == key.pk

    # Delete: confirm, and the row leaves the table; the key no longer authenticates.
    key_row(page, key.pk).get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete “pricing bot v2”?")).to_be_visible()
    page.get_by_role("button", name="Delete Key").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted “pricing bot v2”.")
    expect(key_row(page, key.pk)).to_have_count(0)
    expect(page.get_by_test_id("no-keys")).to_be_visible()
    assert_no_reload(page)
    assert authenticated(raw) is None

    # And it stays gone after a reload.
    page.reload()
    expect(page.locator(f'tr[data-key-id="{key.pk}"]')).to_have_count(0)


def test_add_edit_delete_key_without_javascript(page_no_js, live_server, owner):
    page = page_no_js
    log_in(page, live_server)
    open_keys_page(page, live_server)

    # Add: a plain post renders the one-time key on its own page.
    raw = add_key(page, "laptop")
    expect(page).to_have_url(f"{live_server.url}/keys/new/")
    key = ApiKey.objects.get(pk=authenticated(raw))
    assert key is not None
    assert key.label == "laptop"

    # Back to the list: only the masked key is there.
    page.get_by_test_id("done").click()
    expect(page).to_have_url(f"{live_server.url}/keys/")
    assert raw not in page.content()
    row = key_row(page, key.pk)
    expect(row.locator("code")).to_have_text(raw[:DISPLAY_LENGTH] + "…")

    # Edit: the form is its own page; Confirm redirects to the list with a message.
    row.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(f"{live_server.url}/keys/{key.pk}/edit/")
    page.get_by_label("Label").fill("work laptop")
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(page.get_by_role("status")).to_contain_text("Saved “work laptop”.")
    expect(key_row(page, key.pk).locator(".key-label")).to_have_text("work laptop")
    key.refresh_from_db()
    assert key.label == "work laptop"

    # Delete: a confirmation page, then a redirect to the list without the key.
    key_row(page, key.pk).get_by_role("link", name="Delete").click()
    expect(page).to_have_url(f"{live_server.url}/keys/{key.pk}/delete/")
    page.get_by_role("button", name="Delete Key").click()
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(page.get_by_role("status")).to_contain_text("Deleted “work laptop”.")
    expect(key_row(page, key.pk)).to_have_count(0)
    assert authenticated(raw) is None


def field_error(page):
    """The error crispy renders under the label field."""
    return page.locator("#id_label ~ .invalid-feedback, #error_1_id_label")


def test_inline_errors_keep_the_page(page, live_server, owner_key):
    existing, _ = owner_key
    log_in(page, live_server)
    open_keys_page(page, live_server)
    set_marker(page)

    # Empty label: the form comes back in the panel with the error at the field.
    page.get_by_role("link", name="+ Add New Key").click()
    page.get_by_role("button", name="Create key").click()
    label_field = page.get_by_label("Label")
    expect(label_field).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(field_error(page).first).to_contain_text("This field is required.")

    # Duplicate label (case-insensitive): same, and what was typed is kept.
    label_field.fill("Pricing Bot")
    page.get_by_role("button", name="Create key").click()
    expect(field_error(page).first).to_contain_text(DUPLICATE_LABEL)
    expect(page.get_by_label("Label")).to_have_value("Pricing Bot")
    expect(page.get_by_test_id("raw-key")).to_have_count(0)

    # Still the same page: the table with the existing key, no reload, no new key.
    assert_no_reload(page)
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(key_row(page, existing.pk)).to_have_count(1)
    assert existing.owner.api_keys.count() == 1

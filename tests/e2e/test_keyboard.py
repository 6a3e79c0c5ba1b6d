"""The keys page and the settings by keyboard, with a screen reader in mind, at phone and
desktop size: focus goes to what changed, Escape closes, the copy button tells the truth."""

import pytest
from playwright.sync_api import expect

from keys.models import ApiKey
from tests.support import log_in

pytestmark = pytest.mark.e2e


def announced(page):
    return page.locator("#announcer")


def test_focus_follows_add_edit_and_delete(sized_page, live_server, owner):
    page = sized_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")

    # Add: the label field has the focus; Enter creates; the new key is focused and selected.
    page.get_by_role("link", name="+ Add New Key").click()
    expect(page.get_by_label("Label")).to_be_focused()
    page.keyboard.type("pricing bot")
    page.keyboard.press("Enter")
    raw = page.get_by_test_id("raw-key")
    expect(raw).to_be_focused()
    value = raw.input_value()
    assert page.evaluate(
        "() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]"
    ) == [0, len(value)], "the new key should be selected, ready to copy"
    expect(raw).to_be_in_viewport()
    expect(page.get_by_role("alert")).to_contain_text("It will not be shown again")  # read out

    # Copy: "Copied" because it was, and the clipboard holds the key; then it resets.
    copy = page.locator("[data-copy-target]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == value
    expect(copy).to_have_text("Copy", timeout=5000)

    # Escape does not close the one-time key; Done does.
    page.keyboard.press("Escape")
    expect(raw).to_be_visible()
    page.get_by_test_id("done").click()
    key = ApiKey.objects.get(label="pricing bot")

    # Edit: the form opens in view with the label focused; Escape closes it and gives the
    # focus back to the Edit link.
    edit = page.locator(f'tr[data-key-id="{key.pk}"]').get_by_role("link", name="Edit")
    edit.click()
    label = page.get_by_label("Label")
    expect(label).to_be_focused()
    expect(label).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)
    expect(edit).to_be_focused()

    # Save: the focus goes to the key's row, and the change is announced.
    edit.click()
    expect(label).to_be_focused()  # the form is ready (htmx has processed it)
    label.fill("pricing bot v2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved “pricing bot v2”.")
    expect(page.locator(f'tr[data-key-id="{key.pk}"]')).to_be_focused()
    expect(announced(page)).to_have_text("Saved “pricing bot v2”.")

    # Delete: the confirmation's heading has the focus; Escape cancels; confirming moves
    # the focus to the message saying it is done.
    delete = page.locator(f'tr[data-key-id="{key.pk}"]').get_by_role("link", name="Delete")
    delete.click()
    heading = page.get_by_role("heading", name="Delete “pricing bot v2”?")
    expect(heading).to_be_focused()
    page.keyboard.press("Escape")
    expect(heading).to_have_count(0)
    expect(delete).to_be_focused()
    delete.click()
    expect(heading).to_be_focused()  # the confirmation is ready (htmx has processed it)
    page.get_by_role("button", name="Delete Key").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Deleted “pricing bot v2”.")
    expect(status).to_be_focused()
    expect(announced(page)).to_contain_text("Deleted “pricing bot v2”.")


def test_the_copy_button_never_claims_a_copy_that_failed(sized_page, live_server, owner):
    page = sized_page
    # A browser that refuses both ways of copying (no permission, no execCommand).
    page.add_init_script(
        """
        Object.defineProperty(navigator, "clipboard", {value: {
            writeText: () => Promise.reject(new Error("denied"))}});
        document.execCommand = () => false;
        """
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    page.get_by_role("link", name="+ Add New Key").click()
    page.get_by_label("Label").fill("bot")
    page.get_by_role("button", name="Create key").click()
    copy = page.locator("[data-copy-target]")
    copy.click()
    expect(copy).to_contain_text("Not copied")
    expect(page.get_by_test_id("raw-key")).to_be_focused()  # selected, for Ctrl+C by hand
    expect(copy).to_have_text("Copy", timeout=5000)


def test_escape_cancels_the_overage_confirmation(sized_page, live_server, staff):
    page = sized_page
    log_in(page, live_server, username="carol")
    page.goto(f"{live_server.url}/usage/settings/")
    page.get_by_role("link", name="Turn On Overage").click()
    heading = page.get_by_role("heading", name="Turn On Overage?")
    expect(heading).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("overage-state")).to_contain_text("Overage is off")
    expect(heading).to_have_count(0)


def test_saving_a_setting_focuses_and_announces_it(sized_page, live_server, staff):
    page = sized_page
    log_in(page, live_server, username="carol")
    page.goto(f"{live_server.url}/usage/settings/")
    page.get_by_label("Plan name").fill("Analyst+")
    page.get_by_role("button", name="Save plan").click()
    status = page.get_by_role("status").filter(has_text="Saved the plan.")
    expect(status).to_be_focused()
    expect(announced(page)).to_have_text("Saved the plan.")

"""Every console page under the Content-Security-Policy, in a real Chromium: nothing is
refused (no inline script, style or eval left), and the pages still work."""

import pytest
from playwright.sync_api import expect

from tests.support import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def violations(page):
    """Chromium's console messages about the CSP: one per refused script, style or eval."""
    seen = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and seen.append(message.text),
    )
    return seen


def visit(page, live_server, path, heading):
    page.goto(f"{live_server.url}{path}")
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()


def test_the_console_runs_under_its_policy(page, live_server, staff, violations):
    log_in(page, live_server, username="carol")
    expect(page.get_by_role("heading", name="Developer Dashboard")).to_be_visible()

    # API Keys: the htmx add-key flow and the copy button, both our own static JavaScript.
    visit(page, live_server, "/keys/", "API Keys")
    page.evaluate("window.__marker = 1")
    page.get_by_role("link", name="+ Add New Key").click()
    page.get_by_label("Label").fill("csp bot")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("raw-key")).to_be_visible()
    copy = page.locator("[data-copy-target]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("window.__marker") == 1, "htmx did not swap the panel"
    page.get_by_test_id("done").click()
    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_label("Requests per minute")).to_be_visible()

    # Usage: the report with its SVG chart and live minute, history filtered through htmx.
    visit(page, live_server, "/usage/", "API Usage Report")
    expect(page.get_by_test_id("usage-chart")).to_be_visible()
    visit(page, live_server, "/usage/history/", "History")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("history-total")).to_be_visible()

    # Settings: staff's forms, and one htmx confirmation swapped in.
    visit(page, live_server, "/usage/settings/", "Settings")
    page.get_by_role("link", name="Turn On Overage").click()
    expect(page.get_by_role("heading", name="Turn On Overage?")).to_be_visible()

    visit(page, live_server, "/accounts/password/", "Change password")
    visit(page, live_server, "/admin/keys/apikey/", "Select API key to change")
    assert violations == []

    # The listener hears a violation when there is one: an injected inline style is refused.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<b style=\"color: red\">x</b>')")
    for _ in range(40):
        if violations:
            break
        page.wait_for_timeout(50)
    assert any("style-src" in text for text in violations), violations

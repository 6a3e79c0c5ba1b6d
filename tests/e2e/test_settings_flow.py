"""The settings page as staff drive it: the alerts switch keeps what was typed."""

import pytest
from playwright.sync_api import expect

from tests.support import log_in
from usage.models import Plan

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("javascript", [True, False])
def test_turning_alerts_off_keeps_a_typed_recipient(browser, live_server, staff, _live, javascript):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    try:
        log_in(page, live_server, username="carol")
        page.goto(f"{live_server.url}/usage/settings/")
        page.get_by_label("Extra recipients").fill("ops@example.com")
        page.get_by_role("button", name="Turn Off Alerts").click()
        expect(page.get_by_test_id("alerts-state")).to_have_text("Alerts are off")
        expect(page.get_by_label("Extra recipients")).to_have_value("ops@example.com")
        expect(page.get_by_role("status")).to_contain_text("not saved yet")
        assert Plan.load().recipients == ""
        page.get_by_role("button", name="Save alerts").click()
        expect(page.get_by_role("status")).to_contain_text("Saved the alert settings.")
        assert Plan.load().recipients == "ops@example.com"
        assert Plan.load().alerts_enabled is False
    finally:
        context.close()

"""Staff turn the response cache on and change a time in the browser (htmx swaps)."""

import pytest
from playwright.sync_api import expect

from tests.support import log_in
from usage.models import Plan

pytestmark = pytest.mark.e2e


def test_staff_turn_the_cache_on_and_set_a_time(page, live_server, staff):
    log_in(page, live_server, username="carol")
    page.get_by_role("link", name="Settings").click()
    page.evaluate("window.__marker = 1")
    card = page.locator("#settings-cache")
    expect(card.get_by_test_id("cache-state")).to_contain_text("off")

    page.get_by_role("link", name="Turn On Response Cache").click()
    expect(page.get_by_role("heading", name="Turn On Response Cache?")).to_be_visible()
    page.get_by_role("button", name="Turn On Response Cache").click()
    expect(card.get_by_test_id("cache-state")).to_contain_text("on")
    expect(card.get_by_role("status")).to_have_text(
        "The response cache is on: repeated calls are answered at no credit."
    )

    page.get_by_label("Seconds for /simple/price").fill("5")
    page.get_by_role("button", name="Save times").click()
    expect(card.get_by_role("status")).to_have_text("Saved the cache times.")
    expect(card.get_by_test_id("cache-ttls")).to_contain_text("set by staff (default 20 s)")
    assert page.evaluate("window.__marker") == 1, "htmx should have swapped the card"
    plan = Plan.load()
    assert (plan.cache_enabled, plan.cache_ttls) == (True, '{"/simple/price":5}')


def test_a_bad_time_is_shown_in_the_card_and_nothing_changes(page, live_server, staff):
    log_in(page, live_server, username="carol")
    page.goto(f"{live_server.url}/usage/settings/")
    page.get_by_label("Seconds for /global").fill("-5")
    page.get_by_role("button", name="Save times").click()
    expect(page.get_by_test_id("ttl-errors")).to_contain_text("out of range")
    assert Plan.load().cache_ttls == ""

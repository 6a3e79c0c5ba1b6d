"""A session that ends while a console page is open: the next htmx request (the live
minute's poll, opening the add-key panel) takes the browser to the login page, and
logging in returns to the page, at phone and desktop size."""

import pytest
from playwright.sync_api import expect

from tests.support import PASSWORD, log_in

pytestmark = pytest.mark.e2e


def log_in_again(page, username="alice"):
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_the_live_card_takes_the_browser_to_log_in_and_back(sized_page, live_server, owner):
    page = sized_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/usage/")
    expect(page.get_by_test_id("live")).to_be_visible()
    page.context.clear_cookies()  # the session ends (expired, or logged out elsewhere)

    # The live card polls every 3 s: the whole page goes to log in, nothing is swapped in.
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/usage/")
    expect(page.get_by_role("heading", name="Log in to Tollgate")).to_have_count(1)
    log_in_again(page)
    expect(page).to_have_url(f"{live_server.url}/usage/")
    expect(page.get_by_role("heading", name="API Usage Report")).to_be_visible()


def test_opening_the_add_key_panel_without_a_session(sized_page, live_server, owner):
    page = sized_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    page.context.clear_cookies()
    page.get_by_role("link", name="+ Add New Key").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/keys/")
    expect(page.locator("#key-panel")).to_have_count(0)  # a page of its own, not a panel
    log_in_again(page)
    expect(page).to_have_url(f"{live_server.url}/keys/")

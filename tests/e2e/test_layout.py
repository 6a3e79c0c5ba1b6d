"""Every console page fits a phone (390 px) and a desktop (1440 px) with no sideways
scroll; on a phone the menu collapses behind Bootstrap's toggler and tables become
cards of "name: value" lines."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from keys.services import key_create, key_delete
from tests.support import log_in, record_call
from usage.plan.services import plan_update

pytestmark = pytest.mark.e2e

PAGES = [
    ("/", "Developer Dashboard"),
    ("/keys/", "API Keys"),
    ("/keys/new/", "API Keys"),
    ("/usage/", "API Usage Report"),
    ("/usage/history/", "History"),
    ("/usage/history/?start=2026-10-20&end=2026-11-26", "History"),
    ("/usage/settings/", "Settings"),
    ("/accounts/password/", "Change password"),
]


@pytest.fixture
def busy_team(owner, staff):
    """Keys with long labels and some traffic, a deleted key, a few plan changes."""
    long_label = "market-data-ingestion-worker-for-the-nightly-portfolio-rebalancer"
    keys = [
        key_create(owner=owner, label=long_label, monthly_credits=5000)[0],
        key_create(owner=owner, label="pricing bot")[0],
        key_create(owner=staff, label="staff laptop", rate_limit=30)[0],
    ]
    gone = key_create(owner=owner, label="old script")[0]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for key in [*keys, gone]:
        record_call(key, now, path="/coins/markets/very/long/endpoint/name/for/the/table")
        record_call(key, now, outcome="upstream_error", status=500, credit=False)
    key_delete(key=gone)
    plan_update(actor=staff, monthly_credits=250000, recipients="ops-team-alerts@example.com")
    return keys


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the screen (0 or less: no sideways scroll).

    Against the viewport's set width, not ``window.innerWidth``: a phone browser zooms
    out to fit a page that is too wide, and innerWidth grows with it.
    """
    width = page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    return width - page.viewport_size["width"]


def too_wide(page) -> list[str]:
    """The innermost elements that reach past the screen's right edge, for the message."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter((el) => el.getBoundingClientRect().right > width + 0.5)
            .filter((el) => ![...el.children].some(
                (child) => child.getBoundingClientRect().right > width + 0.5))
            .slice(0, 5)
            .map((el) => `${el.tagName}.${el.className}: ${el.textContent.trim().slice(0, 40)}`)""",
        page.viewport_size["width"],
    )


@pytest.mark.parametrize("username", ["alice", "carol"])
def test_no_page_scrolls_sideways(sized_page, live_server, busy_team, username):
    page = sized_page
    log_in(page, live_server, username=username)
    for path, heading in PAGES:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        assert sideways_overflow(page) <= 0, f"{path} is too wide: {too_wide(page)}"
    # The panels that open inside the keys page.
    page.goto(f"{live_server.url}/keys/")
    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_role("button", name="Confirm")).to_be_visible()
    assert sideways_overflow(page) <= 0, "the edit panel is wider than the window"


def test_the_login_page_fits(sized_page, live_server, owner):
    page = sized_page
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Log in to Tollgate")).to_be_visible()
    assert sideways_overflow(page) <= 0


def test_on_a_phone_the_menu_collapses_and_opens(browser, live_server, staff, _live):
    from tests.e2e.conftest import VIEWPORTS

    context = browser.new_context(**VIEWPORTS["phone"])
    page = context.new_page()
    try:
        log_in(page, live_server, username="carol")
        menu = page.get_by_role("button", name="Menu")
        log_out = page.get_by_role("button", name="Log out")
        expect(menu).to_be_visible()
        expect(log_out).to_be_hidden()
        menu.click()
        for name in ("Dashboard", "API Keys", "Usage", "Settings", "Admin"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(log_out).to_be_in_viewport()
        page.get_by_role("link", name="Settings", exact=True).click()
        expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    finally:
        context.close()


def test_on_a_desktop_the_menu_is_open(browser, live_server, owner, _live):
    from tests.e2e.conftest import VIEWPORTS

    context = browser.new_context(**VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        log_in(page, live_server)
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
    finally:
        context.close()


def test_without_javascript_the_phone_menu_stays_open(browser, live_server, owner, _live):
    from tests.e2e.conftest import VIEWPORTS

    context = browser.new_context(**VIEWPORTS["phone"], java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server)
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert sideways_overflow(page) <= 0
    finally:
        context.close()


def test_on_a_phone_the_keys_table_is_a_list_of_cards(sized_page, live_server, busy_team):
    page = sized_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/keys/")
    row = page.locator(f'tr[data-key-id="{busy_team[1].pk}"]')
    edit = row.get_by_role("link", name="Edit")
    expect(edit).to_be_in_viewport()
    phone = page.viewport_size["width"] < 576
    header_shown = page.get_by_role("columnheader", name="Created").is_visible()
    # A phone hides the header row and labels each value instead ("Created 2026-…").
    assert header_shown is not phone
    box = row.bounding_box()
    assert box["width"] <= page.viewport_size["width"]


@pytest.mark.parametrize("width", [360, 576, 768, 1024])
def test_no_page_scrolls_sideways_at_other_widths(browser, live_server, busy_team, _live, width):
    """Between the phone and the desktop: a small phone, a tablet upright and sideways."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, username="carol")
        for path, heading in PAGES:
            page.goto(f"{live_server.url}{path}")
            expect(page.get_by_role("heading", name=heading).first).to_be_visible()
            assert sideways_overflow(page) <= 0, f"{path} is too wide: {too_wide(page)}"
    finally:
        context.close()

"""``make screenshots``: the console's main pages at phone and desktop size, as PNG files
in ``screenshots/`` (git-ignored), so anyone can look at the console without setting it
up. Not a test (its name keeps it out of ``make test``); run through pytest for the live
server, the throwaway database and the browser of the end-to-end tests.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from keys.services import key_create, key_delete
from tests.e2e.conftest import VIEWPORTS
from tests.support import log_in, record_call
from usage.plan.services import plan_update

OUT = Path(os.environ.get("SCREENSHOTS_DIR", "screenshots"))
PAGES = [
    ("home", "/", "Developer Dashboard"),
    ("keys", "/keys/", "API Keys"),
    ("usage", "/usage/", "API Usage Report"),
    ("history", "/usage/history/?timeframe=30d", "History"),
    ("settings", "/usage/settings/", "Settings"),
]


@pytest.fixture
def team(owner, staff):
    keys = [
        key_create(owner=owner, label="pricing bot", monthly_credits=400)[0],
        key_create(owner=owner, label="portfolio rebalancer")[0],
        key_create(owner=staff, label="staff laptop", rate_limit=30)[0],
    ]
    gone = key_create(owner=owner, label="old script")[0]
    plan_update(actor=staff, monthly_credits=2000, rate_limit=60)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for day in range(30):
        at = now - timedelta(days=day)
        for i, key in enumerate([*keys, gone]):
            for _ in range((day * 7 + i * 3) % 9):
                record_call(key, at, path=["/simple/price", "/coins/markets", "/ping"][i % 3])
            if day % 5 == i:
                record_call(key, at, outcome="upstream_error", status=502, credit=False)
                record_call(key, at, outcome="rate_limited", status=429, credit=False)
    key_delete(key=gone)
    return keys


@pytest.mark.e2e
@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("username", ["carol", "alice"])
def test_screenshots(browser, live_server, team, _live, size, username):
    context = browser.new_context(**VIEWPORTS[size])
    page = context.new_page()
    try:
        log_in(page, live_server, username=username)
        who = "staff" if username == "carol" else "member"
        folder = OUT / size
        folder.mkdir(parents=True, exist_ok=True)
        for name, path, heading in PAGES:
            page.goto(f"{live_server.url}{path}")
            expect(page.get_by_role("heading", name=heading).first).to_be_visible()
            page.screenshot(path=folder / f"{name}-{who}.png", full_page=True)
            if size == "phone":  # what the first screen shows, at full resolution
                page.screenshot(path=folder / f"{name}-{who}-first-screen.png")
        page.goto(f"{live_server.url}/keys/")
        page.get_by_role("link", name="Edit").first.click()
        expect(page.get_by_role("button", name="Confirm")).to_be_visible()
        page.screenshot(path=folder / f"keys-edit-{who}.png", full_page=True)
        if size == "phone":
            page.get_by_role("button", name="Menu").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            page.screenshot(path=folder / f"menu-{who}.png")
    finally:
        context.close()

"""The usage history as a user drives it: filter by a key and a range, download the CSV."""

import csv
import io
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from keys.services import key_create
from tests.support import log_in, record_call

pytestmark = pytest.mark.e2e


def test_filter_by_key_and_range_then_download_the_csv(page, live_server, owner):
    bot, _ = key_create(owner=owner, label="pricing bot")
    laptop, _ = key_create(owner=owner, label="laptop")
    record_call(bot, datetime(2026, 10, 3, 9, 0, tzinfo=UTC), size=50)
    record_call(bot, datetime(2026, 10, 4, 9, 0, tzinfo=UTC), path="/coins/bitcoin", size=50)
    record_call(bot, datetime(2026, 10, 9, 9, 0, tzinfo=UTC), size=50)  # outside the range
    record_call(laptop, datetime(2026, 10, 4, 10, 0, tzinfo=UTC), size=50)  # another key

    log_in(page, live_server)
    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.get_by_role("heading", name="API Usage Report")).to_be_visible()
    page.get_by_role("link", name="History and CSV export").click()
    page.wait_for_url("**/usage/history/")  # loaded: console.js applies the filters

    # Untick the other key, then pick two dates on the "This month" default: the results
    # follow each change, without a Show click and without a page load.
    page.evaluate("window.__marker = 1")
    page.get_by_label("laptop").uncheck()
    expect(page.get_by_test_id("history-heading")).to_contain_text("1 of 2 keys")
    expect(page.get_by_label("Timeframe")).to_have_value("this_month")
    page.get_by_label("From", exact=True).fill("2026-10-03")
    page.get_by_label("To", exact=True).fill("2026-10-05")
    expect(page.get_by_label("Timeframe")).to_have_value("")  # the range replaced it

    expect(page.get_by_test_id("history-heading")).to_contain_text("2026-10-03 to 2026-10-05")
    expect(page.get_by_test_id("total-requests")).to_have_text("2")
    expect(page.get_by_test_id("history-days").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("by-endpoint")).to_contain_text("/coins/{id}")
    expect(page.locator("#history-form .invalid-feedback, #history-form .alert")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1, "htmx should have swapped the results"
    # A shareable link, with nothing empty or overruled in it.
    assert (
        page.url
        == f"{live_server.url}/usage/history/?keys={bot.pk}&start=2026-10-03&end=2026-10-05"
    )

    # Back to a timeframe: the dates clear themselves.
    page.get_by_label("Timeframe").select_option("last_month")
    expect(page.get_by_test_id("history-heading")).to_contain_text("Last month")
    expect(page.get_by_label("From", exact=True)).to_have_value("")
    assert page.url.endswith(f"?keys={bot.pk}&timeframe=last_month")
    page.go_back()
    expect(page.get_by_test_id("history-heading")).to_contain_text("2026-10-03 to 2026-10-05")

    with page.expect_download() as download_info:
        page.get_by_test_id("export-call").click()
    download = download_info.value
    assert download.suggested_filename == "tollgate-usage-2026-10-03_2026-10-05-calls.csv" or (
        download.suggested_filename.startswith("tollgate-usage-2026-10-03_2026-10-05")
    )
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert len(rows) == 3  # header and the two calls of the bot in the range
    assert all("pricing bot" in row for row in rows[1:])
    assert [row[0][:10] for row in rows[1:]] == ["2026-10-03", "2026-10-04"]


def test_a_date_range_on_the_first_try_without_javascript(page_no_js, live_server, owner):
    page = page_no_js
    bot, _ = key_create(owner=owner, label="pricing bot")
    record_call(bot, datetime(2026, 10, 4, 9, 0, tzinfo=UTC), size=50)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/usage/history/")
    expect(page.get_by_label("Timeframe")).to_have_value("this_month")
    page.get_by_label("From", exact=True).fill("2026-10-01")
    page.get_by_label("To", exact=True).fill("2026-10-31")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("history-heading")).to_contain_text("2026-10-01 to 2026-10-31")
    expect(page.get_by_test_id("total-requests")).to_have_text("1")
    assert page.url == f"{live_server.url}/usage/history/?start=2026-10-01&end=2026-10-31"
    expect(page.get_by_label("Timeframe")).to_have_value("")


def test_none_then_one_key_and_all_again(sized_page, live_server, owner):
    page = sized_page
    bot, _ = key_create(owner=owner, label="pricing bot")
    laptop, _ = key_create(owner=owner, label="laptop")
    now = datetime.now(UTC)
    record_call(bot, now)
    record_call(laptop, now)
    record_call(laptop, now)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/usage/history/")
    heading = page.get_by_test_id("history-heading")
    expect(heading).to_contain_text("all 2 keys")
    expect(page.get_by_test_id("by-key")).to_contain_text("laptop")
    page.get_by_role("button", name="None", exact=True).click()
    expect(page.get_by_label("pricing bot")).not_to_be_checked()
    expect(page.get_by_label("laptop")).not_to_be_checked()
    page.get_by_label("laptop").check()
    expect(heading).to_contain_text("1 of 2 keys")
    expect(page.get_by_test_id("total-requests")).to_have_text("2")
    page.get_by_role("button", name="All", exact=True).click()
    expect(heading).to_contain_text("all 2 keys")
    expect(page.get_by_test_id("total-requests")).to_have_text("3")
    assert page.url == f"{live_server.url}/usage/history/?timeframe=this_month"

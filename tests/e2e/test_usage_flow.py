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

    page.get_by_label("API keys").select_option(str(bot.pk))
    page.get_by_label("Timeframe").select_option("")
    page.get_by_label("From").fill("2026-10-03")
    page.get_by_label("To").fill("2026-10-05")
    page.evaluate("window.__marker = 1")
    page.get_by_role("button", name="Show").click()

    total = page.get_by_test_id("history-total")
    expect(total).to_contain_text("2")
    expect(page.get_by_test_id("history-days").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("by-endpoint")).to_contain_text("/coins/{id}")
    assert page.evaluate("window.__marker") == 1, "htmx should have swapped the results"
    assert "start=2026-10-03" in page.url and f"keys={bot.pk}" in page.url  # a shareable link

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

"""The usage report and its history, against hand-counted calls."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from keys.services import key_create, key_delete
from tests.support import record_call
from usage.models import MonthUsage

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


def history(client, **params):
    """The history page as a browser ends up showing it (after the redirect to its short URL)."""
    return client.get(reverse("usage:history"), params, follow=True)


class TestReport:
    def test_totals_remaining_and_overage_match_hand_counts(self, owner_client, owner, plan, clock):
        mine, _ = key_create(owner=owner, label="mine", monthly_credits=10)
        other, _ = key_create(owner=owner, label="other")
        for _ in range(3):
            record_call(mine, NOW)
        record_call(other, NOW)
        record_call(other, NOW, outcome="upstream_error", status=500, credit=False)
        MonthUsage.objects.filter(key_ref__in=[0, other.pk]).update(overage_calls=2)
        response = owner_client.get(reverse("usage:report"))
        body = response.content.decode()
        assert response.status_code == 200
        # plan: 4 credited + 2 overage; 1000 - 4 remaining
        assert 'data-testid="plan-calls">6<' in body
        assert 'data-testid="plan-remaining">996<' in body
        assert "2 of them overage" in body
        rows = {row.key.label: row for row in response.context["key_rows"]}
        assert (rows["mine"].calls, rows["mine"].remaining, rows["mine"].overage_calls) == (3, 7, 0)
        assert (rows["other"].calls, rows["other"].remaining, rows["other"].overage_calls) == (
            3,
            996,
            2,
        )

    def test_percent_used_for_the_plan_and_keys_with_their_own_credits(
        self, owner_client, owner, plan, clock
    ):
        mine, _ = key_create(owner=owner, label="mine", monthly_credits=8)
        shared, _ = key_create(owner=owner, label="shared")
        for _ in range(6):
            record_call(mine, NOW)
        record_call(shared, NOW)
        body = owner_client.get(reverse("usage:report")).content.decode()
        # The plan: 7 of 1,000 credits; the key with its own 8 credits: 6 of them, 75%.
        plan_bar = body[body.index('data-testid="used-the-plan"') :]
        assert '<progress class="used-bar" max="1000" value="7"' in plan_bar
        assert '"percent">0%</span> used of 1,000' in plan_bar
        mine_bar = body[body.index('data-testid="used-mine"') :]
        assert '"percent">75%</span> used of 8' in mine_bar
        assert 'data-testid="used-shared"' not in body  # draws on the plan's credits

    def test_last_months_calls_do_not_count(self, owner_client, owner_key, plan, clock):
        key, _ = owner_key
        record_call(key, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))
        record_call(key, datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC))
        response = owner_client.get(reverse("usage:report"))
        assert response.context["plan_row"].calls == 1
        assert response.context["key_rows"][0].calls == 1

    def test_members_see_their_keys_and_the_team_totals(
        self, owner_client, owner_key, teammate, plan, clock
    ):
        theirs, _ = key_create(owner=teammate, label="theirs")
        record_call(theirs, NOW)
        body = owner_client.get(reverse("usage:report")).content.decode()
        assert "theirs" not in body and theirs.prefix not in body
        assert 'data-testid="plan-calls">1<' in body  # the team's totals include it

    def test_staff_see_every_key(self, staff_client, owner_key, plan, clock):
        body = staff_client.get(reverse("usage:report")).content.decode()
        assert owner_key[0].prefix in body and "alice" in body

    def test_the_chart_shows_errors_apart(self, owner_client, owner_key, plan, clock):
        key, _ = owner_key
        record_call(key, NOW)
        record_call(key, NOW, outcome="upstream_error", status=502, credit=False)
        record_call(key, NOW, outcome="rate_limited", status=429, credit=False)
        body = owner_client.get(reverse("usage:report")).content.decode()
        assert (
            'class="bar-ok"' in body
            and 'class="bar-errors"' in body
            and 'class="bar-refused"' in body
        )
        assert "2026-11-26: 3 requests (1 successful, 1 errors, 1 refused)" in body

    def test_the_live_figure_counts_this_minutes_calls(self, client, api, plan):
        api.get("/ping")
        api.get("/ping")
        client.force_login(api.key.owner)
        response = client.get(reverse("usage:live"), **HTMX)
        body = response.content.decode()
        assert 'data-testid="live-plan">2<' in body
        assert f'data-key-live="{api.key.pk}">2<' in body
        assert 'hx-trigger="every 3s"' in body


class TestHistory:
    def test_days_are_cut_in_the_teams_time_zone(self, owner_client, owner_key, settings, clock):
        settings.TIME_ZONE = "Asia/Tokyo"
        key, _ = owner_key
        record_call(key, datetime(2026, 11, 25, 14, 59, tzinfo=UTC))  # 23:59 on the 25th in Tokyo
        record_call(key, datetime(2026, 11, 25, 15, 0, tzinfo=UTC))  # 00:00 on the 26th in Tokyo
        record_call(key, datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
        response = history(owner_client, start="2026-11-25", end="2026-11-26")
        days = {day.day.isoformat(): day.calls for day in response.context["days"]}
        assert days == {"2026-11-25": 1, "2026-11-26": 2}

    def test_both_ends_of_a_range_are_included(self, owner_client, owner_key, clock):
        key, _ = owner_key
        record_call(key, datetime(2026, 11, 9, 23, 59, tzinfo=UTC))  # before
        record_call(key, datetime(2026, 11, 10, 0, 0, tzinfo=UTC))  # first day, first minute
        record_call(key, datetime(2026, 11, 12, 23, 59, tzinfo=UTC))  # last day, last minute
        record_call(key, datetime(2026, 11, 13, 0, 0, tzinfo=UTC))  # after
        response = history(owner_client, start="2026-11-10", end="2026-11-12")
        assert [d.calls for d in response.context["days"]] == [1, 0, 1]
        assert response.context["totals"]["calls"] == 2

    def test_a_month_boundary_in_a_non_utc_zone(self, owner_client, owner_key, settings, clock):
        settings.TIME_ZONE = "America/New_York"
        key, _ = owner_key
        record_call(key, datetime(2026, 11, 1, 3, 30, tzinfo=UTC))  # still October 31st in New York
        record_call(key, datetime(2026, 11, 1, 4, 30, tzinfo=UTC))  # November 1st, 00:30 EDT
        response = history(owner_client, timeframe="last_month")
        assert response.context["totals"]["calls"] == 1
        assert response.context["days"][-1].day.isoformat() == "2026-10-31"
        response = history(owner_client, timeframe="this_month")
        assert response.context["totals"]["calls"] == 1

    def test_filter_by_key_with_breakdowns(self, owner_client, owner, clock):
        a, _ = key_create(owner=owner, label="a")
        b, _ = key_create(owner=owner, label="b")
        record_call(a, NOW, path="/coins/bitcoin")
        record_call(
            a, NOW, path="/coins/ethereum", outcome="rate_limited", status=429, credit=False
        )
        record_call(b, NOW, path="/ping", credit=False)
        response = history(owner_client, keys=[a.pk], timeframe="7d")
        assert response.context["totals"]["calls"] == 2
        tables = {t["name"]: t["rows"] for t in response.context["breakdowns"]}
        assert [(r["name"], r["calls"]) for r in tables["endpoint"]] == [("/coins/{id}", 2)]
        assert {r["name"]: r["calls"] for r in tables["outcome"]} == {"Ok": 1, "Rate limited": 1}
        everything = history(owner_client, timeframe="7d")
        assert everything.context["totals"]["calls"] == 3

    def test_deleted_keys_still_report_under_their_label(self, owner_client, owner_key, clock):
        key, _ = owner_key
        record_call(key, NOW)
        key_delete(key=key)
        response = history(owner_client, keys=[key.pk], timeframe="this_month")
        assert response.context["totals"]["calls"] == 1
        assert "pricing bot" in response.content.decode() and "deleted" in response.content.decode()

    def test_the_url_carries_the_filters_and_htmx_gets_the_results(
        self, owner_client, owner_key, clock
    ):
        record_call(owner_key[0], NOW)
        full = history(owner_client, timeframe="7d")
        assert "<html" in full.content.decode()
        fragment = owner_client.get(reverse("usage:history"), {"timeframe": "7d"}, **HTMX)
        body = fragment.content.decode()
        assert "<html" not in body and 'id="history-results"' in body
        assert 'id="history-form"' not in body  # the form is left alone while one uses it
        assert fragment["HX-Push-Url"] == reverse("usage:history") + "?timeframe=7d"
        assert "timeframe=7d&amp;granularity=day" in body  # the export link keeps the filters

    def test_a_date_range_wins_over_the_timeframe(self, owner_client, owner_key, clock):
        key, _ = owner_key
        record_call(key, datetime(2026, 10, 4, 9, tzinfo=UTC))
        # What the page sends when a person picks dates on the "This month" default.
        query = {"timeframe": "this_month", "start": "2026-10-03", "end": "2026-10-05"}
        response = owner_client.get(reverse("usage:history"), query, **HTMX)
        assert response.context["period"].first_day.isoformat() == "2026-10-03"
        assert response.context["totals"]["requests"] == 1
        assert response["HX-Push-Url"].endswith("?start=2026-10-03&end=2026-10-05")

    def test_a_plain_form_post_is_redirected_to_a_url_without_empty_fields(
        self, owner_client, owner, clock
    ):
        a, _ = key_create(owner=owner, label="a")
        key_create(owner=owner, label="b")
        url = reverse("usage:history")
        response = owner_client.get(url, {"keys": a.pk, "timeframe": "7d", "start": "", "end": ""})
        assert response.status_code == 302
        assert response["Location"] == f"{url}?keys={a.pk}&timeframe=7d"
        query = {"timeframe": "this_month", "start": "2026-11-02", "end": "2026-11-03"}
        response = owner_client.get(url, query)
        assert response["Location"] == f"{url}?start=2026-11-02&end=2026-11-03"
        assert (
            owner_client.get(url, {"start": "2026-11-02", "end": "2026-11-03"}).status_code == 200
        )

    def test_an_htmx_filter_with_errors_is_not_pushed_and_the_form_shows_them(
        self, owner_client, owner_key, clock
    ):
        response = owner_client.get(
            reverse("usage:history"), {"start": "2026-11-10", "end": "2026-11-01"}, **HTMX
        )
        body = response.content.decode()
        assert response["HX-Push-Url"] == "false"
        assert 'id="history-form"' in body and 'hx-swap-oob="true"' in body
        assert "The last day comes before the first." in body

    def test_future_days_are_not_drawn(self, owner_client, owner_key, clock):
        response = history(owner_client, timeframe="this_month")
        assert [d.day.day for d in response.context["days"]] == list(range(1, 27))
        assert len(response.context["chart"]["bars"]) == 26

    def test_a_range_across_months_labels_the_month(self, owner_client, owner_key, clock):
        response = history(owner_client, start="2026-10-30", end="2026-11-02")
        labels = [bar.label for bar in response.context["chart"]["bars"]]
        assert labels == ["Oct 30", "Oct 31", "Nov 1", "Nov 2"]
        response = history(owner_client, start="2026-11-01", end="2026-11-02")
        assert [bar.label for bar in response.context["chart"]["bars"]] == ["1", "2"]

    def test_usage_by_key_beside_endpoint_and_outcome(self, owner_client, owner, clock):
        a, _ = key_create(owner=owner, label="alpha")
        b, _ = key_create(owner=owner, label="beta")
        for _ in range(3):
            record_call(a, NOW)
        record_call(b, NOW, outcome="upstream_error", status=500, credit=False)
        response = history(owner_client, timeframe="7d")
        tables = {t["name"]: t["rows"] for t in response.context["breakdowns"]}
        assert [(r["name"], r["calls"], r["credits_used"]) for r in tables["key"]] == [
            (f"alpha ({a.masked})", 3, 3),
            (f"beta ({b.masked})", 1, 0),
        ]
        assert [r["name"] for r in tables["outcome"]] == ["Ok", "Upstream error"]
        # Two keys chosen: the chart is split by key, one colour each, named in the legend.
        body = response.content.decode()
        assert body.count('class="bar-key-0"') == 1 and body.count('class="bar-key-1"') == 1
        assert "2026-11-26: 4 requests (alpha 3, beta 1)" in body
        # One key: by outcome again.
        one = history(owner_client, keys=[a.pk], timeframe="7d").content.decode()
        assert 'class="bar-ok"' in one and "bar-key-0" not in one

    def test_deleted_keys_are_listed_apart(self, owner_client, owner, clock):
        key_create(owner=owner, label="alive")
        gone, _ = key_create(owner=owner, label="gone")
        key_delete(key=gone)
        body = history(owner_client, timeframe="7d").content.decode()
        deleted = body[body.index('data-testid="deleted-keys"') : body.index("</details>")]
        assert "gone" in deleted and "alive" not in deleted
        assert f'type="checkbox" name="keys" value="{gone.pk}"' in deleted

    def test_no_requests_means_nothing_to_export(self, owner_client, owner_key, clock):
        body = history(owner_client, timeframe="7d").content.decode()
        assert "nothing to export" in body and 'data-testid="export-day"' not in body

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"start": "2026-11-10", "end": "2026-11-01"}, "The last day comes before the first."),
            ({"start": "2026-13-45", "end": "2026-11-01"}, "Enter a valid date."),
            ({"start": "2025-01-01", "end": "2026-11-01"}, "A range covers at most 366 days."),
            ({"start": "2026-11-01"}, "Give the last day of the range."),
            ({"timeframe": "7d", "start": "2026-11-01"}, "Give the last day of the range."),
            ({"timeframe": "forever"}, "Select a valid choice."),
            ({"start": "9999-12-30", "end": "9999-12-31"}, "That date is out of range."),
        ],
    )
    def test_bad_input_is_an_inline_error(self, owner_client, owner_key, clock, params, error):
        response = history(owner_client, **params)
        assert response.status_code == 200
        assert error in response.content.decode()
        assert "period" not in response.context

    def test_a_teammates_key_is_refused(self, teammate_client, owner_key, clock):
        key, _ = owner_key
        response = history(teammate_client, keys=[key.pk], timeframe="7d")
        assert "Select a valid choice" in response.content.decode()
        assert "period" not in response.context


class TestAccess:
    @pytest.mark.parametrize("name", ["usage:report", "usage:live", "usage:history"])
    def test_anonymous_users_are_sent_to_log_in(self, client, name):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    @pytest.mark.parametrize("name", ["usage:report", "usage:live", "usage:history"])
    def test_pages_are_read_only(self, owner_client, name):
        assert owner_client.post(reverse(name)).status_code == 405


class TestCacheSavings:
    def test_the_report_shows_what_the_cache_answered_for_the_team_and_each_key(
        self, owner_client, owner_key, plan, clock
    ):
        key = owner_key[0]
        record_call(key, NOW)
        for outcome in ("cached", "cached", "coalesced"):
            record_call(key, NOW, outcome=outcome, credit=False)
        body = owner_client.get(reverse("usage:report")).content.decode()
        assert "Answered from the response cache this month: <strong>3</strong> of 4" in body
        assert "(75 %)" in body
        row = body.split(f'data-key-id="{key.pk}"')[1].split("</tr>")[0]
        assert re.search(r'data-col="calls"[^>]*>1<', row)  # one credit used...
        assert re.search(r'data-col="requests"[^>]*>4 requests, ', row)  # ...for four requests
        assert re.search(r'data-col="saved"[^>]*>3 from cache \(75 %\)<', row)
        assert "3 from cache" in body  # in the chart's day

    def test_history_shows_the_cached_share_per_endpoint_and_day(
        self, owner_client, owner_key, plan, clock
    ):
        key = owner_key[0]
        record_call(key, NOW)
        record_call(key, NOW, outcome="cached", credit=False)
        body = owner_client.get(reverse("usage:history"), {"timeframe": "24h"}).content.decode()
        assert "50 % from cache" in body
        day = body.split('data-day="2026-11-26"')[1].split("</tr>")[0]
        assert re.search(r'data-col="saved"[^>]*>1 from cache<', day)


def test_more_keys_than_colours_are_drawn_as_other_keys(owner_client, owner, clock):
    keys = [key_create(owner=owner, label=f"key {i:02}")[0] for i in range(10)]
    for i, key in enumerate(keys):
        for _ in range(i + 1):  # key 09 the busiest
            record_call(key, NOW)
    chart = history(owner_client, timeframe="7d").context["chart"]
    names = [name for _, name in chart["series"]]
    assert names == [f"key {i:02}" for i in range(3, 10)] + ["Other keys (3)"]
    assert len({series for series, _ in chart["series"]}) == 8  # every colour once
    assert chart["bars"][-1].title.endswith("key 09 10, Other keys 6)")

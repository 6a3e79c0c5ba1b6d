"""The usage report and its history, against hand-counted calls."""

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
    return client.get(reverse("usage:history"), params)


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
        assert "2 overage" in body
        rows = {row.key.label: row for row in response.context["key_rows"]}
        assert (rows["mine"].calls, rows["mine"].remaining, rows["mine"].overage_calls) == (3, 7, 0)
        assert (rows["other"].calls, rows["other"].remaining, rows["other"].overage_calls) == (
            3,
            996,
            2,
        )

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
        assert "2026-11-26: 3 calls (1 successful, 1 errors, 1 refused)" in body

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
        assert [
            (r["endpoint"], r["calls"]) for r in response.context["breakdowns"]["endpoint"]
        ] == [("/coins/{id}", 2)]
        assert {r["outcome"]: r["calls"] for r in response.context["breakdowns"]["outcome"]} == {
            "ok": 1,
            "rate_limited": 1,
        }
        everything = history(owner_client, timeframe="7d")
        assert everything.context["totals"]["calls"] == 3

    def test_deleted_keys_still_report_under_their_label(self, owner_client, owner_key, clock):
        key, _ = owner_key
        record_call(key, NOW)
        key_delete(key=key)
        response = history(owner_client, keys=[key.pk], timeframe="this_month")
        assert response.context["totals"]["calls"] == 1
        assert "pricing bot" in response.content.decode() and "deleted" in response.content.decode()

    def test_the_url_carries_the_filters_and_htmx_gets_a_fragment(
        self, owner_client, owner_key, clock
    ):
        full = history(owner_client, timeframe="7d")
        assert "<html" in full.content.decode()
        fragment = owner_client.get(reverse("usage:history"), {"timeframe": "7d"}, **HTMX)
        body = fragment.content.decode()
        assert "<html" not in body and 'id="history"' in body
        assert 'hx-push-url="true"' in body
        assert "timeframe=7d&amp;granularity=day" in body  # the export link keeps the filters

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"start": "2026-11-10", "end": "2026-11-01"}, "The last day comes before the first."),
            ({"start": "2026-13-45", "end": "2026-11-01"}, "Enter a valid date."),
            ({"start": "2025-01-01", "end": "2026-11-01"}, "A range covers at most 366 days."),
            ({"start": "2026-11-01"}, "Give the last day of the range."),
            (
                {"timeframe": "7d", "start": "2026-11-01", "end": "2026-11-02"},
                "Choose a timeframe or a date range, not both.",
            ),
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
        assert 'data-col="calls">1<' in row  # one credit used...
        assert 'data-col="requests">4<' in row  # ...for four requests
        assert 'data-col="saved">3 ' in row
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
        assert 'data-col="saved">1<' in day

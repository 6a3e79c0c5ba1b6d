"""Per-minute and monthly limits, as a client meets them (a frozen clock keeps minutes still)."""

import json
from datetime import UTC, datetime

import pytest

from keys.services import key_create, key_update
from usage.models import PLAN_REF, Call, MonthUsage

pytestmark = pytest.mark.django_db
PRICE = "/simple/price"
NOW = datetime(2026, 11, 26, 10, 5, 20, 250000, tzinfo=UTC)


def statuses(api, n, path=PRICE, **kwargs):
    return [api.get(path, **kwargs).status_code for _ in range(n)]


class TestPerMinute:
    def test_the_plan_limit_binds_across_keys(self, api, plan, owner, clock, upstream):
        plan.rate_limit = 5
        plan.save()
        _, other = key_create(owner=owner, label="other")
        assert statuses(api, 3) == [200] * 3
        assert statuses(api, 3, raw_key=other) == [200, 200, 429]
        assert len(upstream.requests) == 5

    def test_a_keys_own_limit_binds_when_tighter(self, api, plan, owner, clock):
        key_update(key=api.key, label=api.key.label, rate_limit=2, monthly_credits=None)
        _, other = key_create(owner=owner, label="other")
        assert statuses(api, 3) == [200, 200, 429]
        assert statuses(api, 2, raw_key=other) == [200, 200]

    def test_429_has_coingeckos_body_and_retry_after_to_the_next_minute(self, api, plan, clock):
        key_update(key=api.key, label=api.key.label, rate_limit=1, monthly_credits=None)
        api.get(PRICE)
        response = api.get(PRICE)
        body = json.loads(response.content)
        assert response.status_code == 429
        assert body["status"]["error_code"] == 429
        assert "exceeded the Rate Limit" in body["status"]["error_message"]
        assert response["Retry-After"] == "40"  # 10:05:20.25 -> 10:06:00, rounded up
        assert response["x-ratelimit-limit"] == "1"
        assert response["x-ratelimit-remaining"] == "0"
        assert response["x-ratelimit-reset"] == "2026-11-26 10:06:00 +0000"
        assert Call.objects.filter(outcome="rate_limited").count() == 1

    def test_every_answer_carries_the_limit_headers(self, api, plan, clock):
        first = api.get(PRICE)
        second = api.get("/ping")
        assert (first["x-ratelimit-limit"], first["x-ratelimit-remaining"]) == ("100", "99")
        assert second["x-ratelimit-remaining"] == "98"  # ping counts against the minute

    def test_the_next_minute_opens_a_new_window(self, api, plan, clock):
        key_update(key=api.key, label=api.key.label, rate_limit=2, monthly_credits=None)
        assert statuses(api, 3) == [200, 200, 429]
        clock.set(NOW.replace(minute=6, second=0, microsecond=0))
        assert statuses(api, 3) == [200, 200, 429]

    def test_refused_calls_do_not_use_up_the_window(self, api, plan, clock):
        key_update(key=api.key, label=api.key.label, rate_limit=3, monthly_credits=None)
        assert statuses(api, 6) == [200, 200, 200, 429, 429, 429]
        assert api.get(PRICE)["x-ratelimit-remaining"] == "0"


class TestMonthlyCredits:
    def test_overage_off_refuses_past_the_plans_credits_without_calling_upstream(
        self, api, plan, clock, upstream
    ):
        plan.monthly_credits = 3
        plan.save()
        assert statuses(api, 4) == [200, 200, 200, 402]
        response = api.get(PRICE)
        body = json.loads(response.content)
        assert body["status"]["error_code"] == 10006
        assert response["x-should-retry"] == "false"
        assert len(upstream.requests) == 3
        assert Call.objects.filter(outcome="credits_exhausted").count() == 2
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 3

    def test_a_keys_own_credits_bind_when_tighter(self, api, plan, owner, clock):
        key_update(key=api.key, label=api.key.label, rate_limit=None, monthly_credits=2)
        _, other = key_create(owner=owner, label="other")
        assert statuses(api, 3) == [200, 200, 402]
        assert statuses(api, 2, raw_key=other) == [200, 200]
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 4

    def test_a_failed_call_gives_its_credit_back(self, api, plan, clock, upstream):
        plan.monthly_credits = 2
        plan.save()
        upstream.configure(fail_next=[500, 503])
        assert statuses(api, 4) == [500, 503, 200, 200]
        assert api.get(PRICE).status_code == 402

    def test_overage_on_forwards_and_counts_overage(self, api, plan, clock, upstream):
        plan.monthly_credits = 2
        plan.overage = True
        plan.save()
        assert statuses(api, 4) == [200] * 4
        assert len(upstream.requests) == 4
        rows = list(Call.objects.order_by("id").values_list("credits", "overage"))
        assert rows == [(1, False), (1, False), (0, True), (0, True)]
        plan_month = MonthUsage.objects.get(key_ref=PLAN_REF)
        assert (plan_month.credits_used, plan_month.overage_calls) == (2, 2)
        body = json.loads(api.get("/key").content)
        assert body["current_total_monthly_calls"] == 4
        assert body["current_remaining_monthly_calls"] == 0

    def test_turning_overage_off_while_over_refuses_at_once(self, api, plan, clock):
        plan.monthly_credits = 1
        plan.overage = True
        plan.save()
        assert statuses(api, 2) == [200, 200]
        plan.overage = False
        plan.save()
        assert statuses(api, 1) == [402]

    def test_a_new_utc_month_starts_over(self, api, plan, clock):
        plan.monthly_credits = 2
        plan.save()
        clock.set(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
        assert statuses(api, 3) == [200, 200, 402]
        clock.set(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC))
        assert statuses(api, 2) == [200, 200]
        months = dict(
            MonthUsage.objects.filter(key_ref=PLAN_REF).values_list("month", "credits_used")
        )
        assert {m.isoformat(): n for m, n in months.items()} == {"2026-11-01": 2, "2026-12-01": 2}

    def test_ping_and_key_work_with_no_credits_left(self, api, plan, clock):
        plan.monthly_credits = 1
        plan.save()
        assert statuses(api, 2) == [200, 402]
        assert api.get("/ping").status_code == 200
        assert json.loads(api.get("/key").content)["current_remaining_monthly_calls"] == 0

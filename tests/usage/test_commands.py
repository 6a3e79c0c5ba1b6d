import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from tests.support import record_call
from usage.models import HourUsage, Plan

pytestmark = pytest.mark.django_db


def run(name, *args):
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


class TestSetPlan:
    def test_it_sets_every_field_and_says_so(self):
        out = run(
            "setplan",
            "--name",
            "Lite",
            "--monthly-credits",
            "2000000",
            "--rate-limit",
            "1000",
            "--overage",
            "on",
        )
        plan = Plan.load()
        assert (plan.name, plan.monthly_credits, plan.rate_limit, plan.overage) == (
            "Lite",
            2_000_000,
            1000,
            True,
        )
        assert "2000000 monthly call credits, 1000 requests per minute, overage on" in out

    def test_it_changes_only_what_it_is_given(self):
        run("setplan", "--name", "Lite", "--rate-limit", "30")
        run("setplan", "--overage", "off")
        plan = Plan.load()
        assert (plan.name, plan.rate_limit, plan.overage) == ("Lite", 30, False)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--rate-limit", "0"], "rate_limit"),
            (["--monthly-credits", "99999999999"], "monthly_credits"),
            (["--name", "  "], "name"),
        ],
    )
    def test_bad_values_are_refused_and_change_nothing(self, args, message):
        before = Plan.load()
        with pytest.raises(CommandError, match=message):
            run("setplan", *args)
        after = Plan.load()
        assert (after.name, after.rate_limit, after.monthly_credits) == (
            before.name,
            before.rate_limit,
            before.monthly_credits,
        )


class TestCheckCounters:
    def make_calls(self, owner_key):
        key, _ = owner_key
        at = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
        for status, outcome in [(200, "ok"), (200, "ok"), (429, "rate_limited")]:
            record_call(
                key, at, path="/ping", status=status, outcome=outcome, credit=False, size=10
            )

    def test_it_passes_when_counters_equal_the_log(self, owner_key):
        self.make_calls(owner_key)
        assert "counters match the call log: 2 hour counters" in run("checkcounters")

    def test_it_fails_when_a_counter_drifts(self, owner_key):
        self.make_calls(owner_key)
        HourUsage.objects.filter(outcome="ok").update(calls=5)
        err = io.StringIO()
        with pytest.raises(CommandError, match="1 counter"):
            call_command("checkcounters", stdout=io.StringIO(), stderr=err)
        assert "log says (2, 0, 0, 20), counter says (5, 0, 0, 20)" in err.getvalue()

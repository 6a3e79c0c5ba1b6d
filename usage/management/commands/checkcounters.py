"""Prove the counters equal the call log: recompute them from the rows and compare.

This is the one place that scans the whole log, on purpose. It holds while the proxy
runs: a call in flight has its row (state "in flight") with its reserved credit, and
gets its hour counter when it ends.
"""

import zoneinfo
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncHour, TruncMonth

from usage.metering import retention
from usage.models import (
    NO_KEY_REF,
    PLAN_REF,
    CachedDay,
    Call,
    DayUsage,
    HourUsage,
    KeylessCalls,
    MonthUsage,
    Outcome,
)
from usage.proxy.endpoints import endpoint_name
from usage.reports.periods import local_midnight


class Command(BaseCommand):
    help = (
        "Check that the hour and month counters equal what the call log adds up to, "
        "and the cached days the hour counters."
    )

    def handle(self, *args, **options):
        # Pruned rows (prunecalls) leave their counters behind: only the range the log
        # still holds in full can be checked against it.
        self.horizon = retention.horizon()
        hour_problems, hours_checked = self._hours()
        month_problems, months_checked = self._months()
        problems = hour_problems + month_problems + self._cached_days()
        if problems:
            for line in problems[:50]:
                self.stderr.write(line)
            raise CommandError(f"{len(problems)} counter(s) differ from the call log")
        since = f" since {self.horizon:%Y-%m-%d %H:%M} UTC" if self.horizon else ""
        self.stdout.write(
            f"counters match the call log{since}: {hours_checked} hour counters, "
            f"{months_checked} month counters, {Call.objects.count()} calls; "
            f"{CachedDay.objects.count()} cached days match the hour counters"
        )

    def _hours(self) -> tuple[list[str], int]:
        """The hour counters against the log: (problems, counters checked)."""
        problems = []
        # Grouped by path in SQL, then by endpoint name here (the name is computed in Python).
        expected_hours = defaultdict(lambda: [0, 0, 0, 0])
        for row in (
            # A call in flight has its credit reserved (see the months) but no hour counter
            # until it ends.
            Call.objects.exclude(outcome=Outcome.IN_FLIGHT)
            .annotate(ref=Coalesce("key_id", NO_KEY_REF), h=TruncHour("at", tzinfo=UTC))
            .values("ref", "h", "path", "outcome")
            .annotate(
                n=Count("id"),
                cr=Sum("credits"),
                ov=Count("id", filter=Q(overage=True)),
                b=Sum("bytes"),
            )
        ):
            slot = _slot(row["ref"], row["h"], endpoint_name(row["path"]), row["outcome"])
            for i, name in enumerate(("n", "cr", "ov", "b")):
                expected_hours[slot][i] += row[name]
        for row in KeylessCalls.objects.values("minute", "outcome", "calls", "bytes"):
            hour = datetime.fromtimestamp(row["minute"] // 60 * 3600, UTC)
            slot = _slot(NO_KEY_REF, hour, "", row["outcome"])
            expected_hours[slot][0] += row["calls"]
            expected_hours[slot][3] += row["bytes"]
        expected_hours = {
            slot: tuple(values) for slot, values in expected_hours.items() if self._kept(slot[1])
        }
        actual_hours = defaultdict(lambda: [0, 0, 0, 0])
        for row in HourUsage.objects.all():
            if not self._kept(row.hour):
                continue
            slot = _slot(row.key_ref, row.hour, row.endpoint, row.outcome)
            for i, value in enumerate((row.calls, row.credits, row.overage_calls, row.bytes)):
                actual_hours[slot][i] += value
        actual_hours = {slot: tuple(values) for slot, values in actual_hours.items()}
        for slot in expected_hours.keys() | actual_hours.keys():
            logged, counted = expected_hours.get(slot), actual_hours.get(slot)
            if (logged or (0, 0, 0, 0)) != (counted or (0, 0, 0, 0)):
                problems.append(f"hour {slot}: log says {logged}, counter says {counted}")
        return problems, len(actual_hours)

    def _months(self) -> tuple[list[str], int]:
        """The month counters (credits, overage) against the log: (problems, counters)."""
        problems = []
        expected_months = Counter()
        for row in (
            Call.objects.filter(Q(credits__gt=0) | Q(overage=True))
            .annotate(m=TruncMonth("at", tzinfo=UTC))
            .values("key_id", "m")
            .annotate(cr=Sum("credits"), ov=Count("id", filter=Q(overage=True)))
        ):
            month = row["m"].date()
            for ref in (row["key_id"], PLAN_REF):
                expected_months[(ref, month, "credits")] += row["cr"]
                expected_months[(ref, month, "overage")] += row["ov"]
        expected_months = Counter(
            {slot: n for slot, n in expected_months.items() if self._month_kept(slot[1])}
        )
        actual_months = Counter()
        for row in MonthUsage.objects.all():
            if not self._month_kept(row.month):
                continue
            actual_months[(row.key_ref, row.month, "credits")] += row.credits_used
            actual_months[(row.key_ref, row.month, "overage")] += row.overage_calls
        for slot in expected_months.keys() | actual_months.keys():
            logged, counted = expected_months[slot], actual_months[slot]
            if logged != counted:
                problems.append(f"month {slot}: log says {logged}, counter says {counted}")
        return problems, len(actual_months) // 2

    def _kept(self, hour) -> bool:
        return self.horizon is None or hour >= self.horizon

    def _month_kept(self, month) -> bool:
        """A month whose rows are all still in the log."""
        if self.horizon is None:
            return True
        return datetime(month.year, month.month, 1, tzinfo=UTC) >= self.horizon

    def _cached_days(self) -> list[str]:
        """Each cached day's sums against its hour counters, in the zone it was cut in."""
        problems = []
        for cached in CachedDay.objects.order_by("zone", "day"):
            zone = zoneinfo.ZoneInfo(cached.zone)
            start = local_midnight(cached.day, zone)
            end = local_midnight(cached.day + timedelta(days=1), zone)
            expected = {
                (row["key_ref"], row["endpoint"], row["outcome"]): (row["n"], row["cr"], row["ov"])
                for row in HourUsage.objects.filter(hour__gte=start, hour__lt=end)
                .values("key_ref", "endpoint", "outcome")
                .annotate(n=Sum("calls"), cr=Sum("credits"), ov=Sum("overage_calls"))
            }
            actual = {
                (row.key_ref, row.endpoint, row.outcome): (
                    row.calls,
                    row.credits,
                    row.overage_calls,
                )
                for row in DayUsage.objects.filter(zone=cached.zone, day=cached.day)
            }
            if expected != actual:
                problems.append(
                    f"cached day {cached.day} ({cached.zone}): hour counters say "
                    f"{sum(v[0] for v in expected.values())} calls, the cache "
                    f"{sum(v[0] for v in actual.values())}"
                )
        return problems


def _slot(ref: int, hour, endpoint: str, outcome: str) -> tuple:
    """An hour counter's identity. Calls without a valid key are counted per minute and
    address, not per endpoint (KeylessCalls), so their hours are compared across endpoints."""
    return (ref, hour, "*" if ref == NO_KEY_REF else endpoint, outcome)

"""Reads of usage: counters only, never a scan of the call log."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import F

from keys.models import ApiKey
from usage.metering import db, windows
from usage.metering.access import effective
from usage.metering.totals import month_totals
from usage.models import BUCKETS, NO_KEY_REF, PLAN_REF, Bucket, Outcome
from usage.reports import daycache
from usage.reports.periods import team_zone


@dataclass
class DayTotals:
    day: date
    calls: int = 0
    credits: int = 0
    overage_calls: int = 0
    ok: int = 0
    saved: int = 0  # answered from the response cache, at no credit
    errors: int = 0
    rate_limited: int = 0
    refused: int = 0  # every refusal, rate limits included
    by_key: dict | None = None  # key ref -> requests, when asked for (the split chart)

    @property
    def requests(self) -> int:
        """Every call, whatever its answer (the console's "requests")."""
        return self.calls

    @property
    def credits_used(self) -> int:
        """Calls that cost a credit, overage included (the console's "credits used")."""
        return self.credits + self.overage_calls


def _add(totals: DayTotals, outcome: str, calls: int, credits: int, overage: int) -> None:
    totals.calls += calls
    totals.credits += credits
    totals.overage_calls += overage
    bucket = BUCKETS[outcome]
    if bucket == Bucket.OK:
        totals.ok += calls
    elif bucket == Bucket.SAVED:
        totals.saved += calls
    elif bucket == Bucket.ERRORS:
        totals.errors += calls
    else:
        totals.refused += calls
        if outcome == Outcome.RATE_LIMITED:
            totals.rate_limited += calls


BY_HOUR_AND_OUTCOME = (
    "SELECT hour, key_ref, outcome, SUM(calls), SUM(credits), SUM(overage_calls) "
    "FROM usage_hourusage WHERE hour >= %s AND hour < %s AND key_ref IN ({refs}) "
    "GROUP BY hour, key_ref, outcome"
)
BY_DAY_AND_OUTCOME = (
    "SELECT day, key_ref, outcome, SUM(calls), SUM(credits), SUM(overage_calls) "
    "FROM usage_dayusage WHERE zone = %s AND day >= %s AND day <= %s AND key_ref IN ({refs}) "
    "GROUP BY day, key_ref, outcome"
)
BY_ENDPOINT_AND_OUTCOME_HOURS = (
    "SELECT key_ref, endpoint, outcome, SUM(calls), SUM(credits), SUM(overage_calls) "
    "FROM usage_hourusage WHERE hour >= %s AND hour < %s AND key_ref IN ({refs}) "
    "GROUP BY key_ref, endpoint, outcome"
)
BY_ENDPOINT_AND_OUTCOME_DAYS = (
    "SELECT key_ref, endpoint, outcome, SUM(calls), SUM(credits), SUM(overage_calls) "
    "FROM usage_dayusage WHERE zone = %s AND day >= %s AND day <= %s AND key_ref IN ({refs}) "
    "GROUP BY key_ref, endpoint, outcome"
)


BY_KEY_AND_OUTCOME_HOURS = (
    "SELECT key_ref, outcome, SUM(calls) FROM usage_hourusage "
    "WHERE hour >= %s AND hour < %s AND key_ref IN ({refs}) GROUP BY key_ref, outcome"
)
BY_KEY_AND_OUTCOME_DAYS = (
    "SELECT key_ref, outcome, SUM(calls) FROM usage_dayusage "
    "WHERE zone = %s AND day >= %s AND day <= %s AND key_ref IN ({refs}) "
    "GROUP BY key_ref, outcome"
)


def team_refs() -> list[int]:
    """Every key ref with hour counters: all keys, deleted or not, and NO_KEY_REF."""
    return [NO_KEY_REF, *ApiKey.objects.values_list("pk", flat=True)]


def _split(period, now: datetime):
    """``period`` as its closed whole days (cached, or None) and the hour ranges around them.

    Reports read the closed days from the day cache, filling it first where needed, and
    only the rest (today, a partial day) from the hour counters.
    """
    days = daycache.closed_days(period, now)
    if days is None:
        return None, [(period.start, period.end)]
    daycache.ensure(*days, refs=team_refs())
    first_hour = daycache.day_start(days[0])
    after_last = daycache.day_start(days[1] + timedelta(days=1))
    hours = [(a, b) for a, b in ((period.start, first_hour), (after_last, period.end)) if a < b]
    return days, hours


def _counter_rows(by_days: str, by_hours: str, *, key_refs: list[int], period, now):
    """Rows of ``by_days`` over the period's cached days, then ``by_hours`` over the rest."""
    refs = ", ".join(["%s"] * len(key_refs))
    days, hours = _split(period, now)
    if days is not None:
        params = [settings.TIME_ZONE, db.date_param(days[0]), db.date_param(days[1]), *key_refs]
        yield from db.fetch_all(by_days.format(refs=refs), params)
    for start, end in hours:
        params = [db.datetime_param(start), db.datetime_param(end), *key_refs]
        yield from db.fetch_all(by_hours.format(refs=refs), params)


def usage_by_day(
    *, key_refs: list[int], period, now: datetime | None = None, split_by_key: bool = False
) -> list[DayTotals]:
    """One row per local day of ``period``, from the day cache and the hour counters.

    With ``split_by_key``, each day also has its requests per key (``DayTotals.by_key``).

    Never the call log. The hour counters are grouped by UTC hour in SQL (an index range
    scan), then folded into the team's local days here, which is exact for any whole-hour
    zone. Plain SQL: at a year of traffic the ORM's per-row conversions cost more than
    the query.
    """
    zone = team_zone()
    days = {day: DayTotals(day) for day in period.days}
    if not key_refs:
        return list(days.values())
    local_day = {}
    rows = _counter_rows(
        BY_DAY_AND_OUTCOME,
        BY_HOUR_AND_OUTCOME,
        key_refs=key_refs,
        period=period,
        now=now or windows.utc_now(),
    )
    for moment, key_ref, outcome, calls, credits, overage in rows:
        day_of = local_day.get(moment)
        if day_of is None:
            day_of = local_day[moment] = _local_day(moment, zone)
        day = days.get(day_of)
        if day is not None:
            _add(day, outcome, int(calls), int(credits), int(overage))
            if split_by_key:
                day.by_key = day.by_key or {}
                day.by_key[key_ref] = day.by_key.get(key_ref, 0) + int(calls)
    return list(days.values())


def _local_day(moment, zone) -> date:
    """The local day of a cached day (a date, or SQLite's text) or of a UTC hour."""
    if isinstance(moment, str):
        if len(moment) == 10:
            return date.fromisoformat(moment)
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        return moment
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(zone).date()


def usage_breakdowns(*, key_refs: list[int], period, now: datetime | None = None):
    """Calls, credits and overage by key, by endpoint and by outcome over ``period``,
    busiest first (``key`` holds key refs).

    One pass over the day cache and the hour counters for all three tables.
    """
    tables = {"key": {}, "endpoint": {}, "outcome": {}}
    if key_refs:
        rows = _counter_rows(
            BY_ENDPOINT_AND_OUTCOME_DAYS,
            BY_ENDPOINT_AND_OUTCOME_HOURS,
            key_refs=key_refs,
            period=period,
            now=now or windows.utc_now(),
        )
        for key_ref, endpoint, outcome, calls, credits, overage in rows:
            for field, value in (("key", key_ref), ("endpoint", endpoint), ("outcome", outcome)):
                row = tables[field].setdefault(
                    value, {field: value, "calls": 0, "credits": 0, "overage_calls": 0, "saved": 0}
                )
                row["calls"] += int(calls)
                if BUCKETS[outcome] == Bucket.SAVED:
                    row["saved"] += int(calls)
                row["credits"] += int(credits)
                row["overage_calls"] += int(overage)
    return {
        field: sorted(rows.values(), key=lambda row: (-row["calls"], row[field]))
        for field, rows in tables.items()
    }


def requests_by_key(*, key_refs: list[int], period, now: datetime) -> dict[int, tuple[int, int]]:
    """Per key ref over ``period``: (requests of every outcome, requests the cache answered)."""
    found: dict[int, list[int]] = {}
    if key_refs:
        rows = _counter_rows(
            BY_KEY_AND_OUTCOME_DAYS,
            BY_KEY_AND_OUTCOME_HOURS,
            key_refs=key_refs,
            period=period,
            now=now,
        )
        for key_ref, outcome, calls in rows:
            counts = found.setdefault(int(key_ref), [0, 0])
            counts[0] += int(calls)
            if BUCKETS[outcome] == Bucket.SAVED:
                counts[1] += int(calls)
    return {ref: (requests, saved) for ref, (requests, saved) in found.items()}


@dataclass
class KeyReport:
    key: object
    calls: int  # this month: credited calls plus overage calls (the "credits used")
    overage_calls: int
    remaining: int
    rate_limit: int
    monthly_credits: int
    requests: int = 0  # this month, every outcome (refusals and cache answers included)
    saved: int = 0  # of those, answered from the cache at no credit

    @property
    def saved_share(self) -> float:
        return self.saved / self.requests if self.requests else 0.0

    @property
    def credits_used(self) -> int:
        return self.calls

    @property
    def percent_used(self) -> int:
        """Credits used as a whole percentage of the monthly credits; past 100 with overage."""
        return self.calls * 100 // self.monthly_credits if self.monthly_credits else 0

    @property
    def own_credits(self) -> bool:
        """Whether the key has monthly credits of its own (else the plan's apply)."""
        return self.key is not None and self.key.monthly_credits is not None


def month_report(*, keys, plan, now: datetime) -> tuple[KeyReport, list[KeyReport]]:
    """This month's figures for the plan and for each of ``keys``, from the month counters.

    A key's remaining calls are the smaller of what its own credits and the plan's leave.
    """
    totals = month_totals(key_refs=[PLAN_REF, *(key.pk for key in keys)], now=now)
    plan_used, plan_overage = totals.get(PLAN_REF, (0, 0))
    plan_remaining = max(0, plan.monthly_credits - plan_used)
    plan_row = KeyReport(
        key=None,
        calls=plan_used + plan_overage,
        overage_calls=plan_overage,
        remaining=plan_remaining,
        rate_limit=plan.rate_limit,
        monthly_credits=plan.monthly_credits,
    )
    rows = []
    for key in keys:
        used, overage = totals.get(key.pk, (0, 0))
        credits = effective(key.monthly_credits, plan.monthly_credits)
        rows.append(
            KeyReport(
                key=key,
                calls=used + overage,
                overage_calls=overage,
                remaining=min(max(0, credits - used), plan_remaining),
                rate_limit=effective(key.rate_limit, plan.rate_limit),
                monthly_credits=credits,
            )
        )
    return plan_row, rows


def keys_for_reports(user):
    """The keys a user may report on: their own (staff: everyone's), deleted ones included."""
    active_first = F("deleted_at").asc(nulls_first=True)
    qs = ApiKey.objects.select_related("owner").order_by(active_first, "label", "id")
    return qs if user.is_staff else qs.filter(owner=user)


KEYLESS_IN_MINUTES = (
    "SELECT COALESCE(SUM(calls), 0), COUNT(DISTINCT address) FROM usage_keylesscalls "
    "WHERE minute >= %s AND minute < %s"
)


@dataclass(frozen=True)
class KeylessSummary:
    calls: int
    addresses: int


def keyless_this_month(now: datetime) -> KeylessSummary:
    """Calls refused without a valid key this UTC month, and from how many addresses.

    Reads the per-minute, per-address counters (usage.KeylessCalls), never the call log.
    """
    first = windows.month_start(now)
    after = (first + timedelta(days=32)).replace(day=1)
    bounds = [windows.minute_index(_utc_midnight(day)) for day in (first, after)]
    calls, addresses = db.fetch_one(KEYLESS_IN_MINUTES, bounds)
    return KeylessSummary(int(calls), int(addresses))


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

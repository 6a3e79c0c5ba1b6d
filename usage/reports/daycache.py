"""Closed days, summed once: the hour counters per local day, key, endpoint and outcome.

Reading a month's history from the hour counters alone costs a read of every hour counter
of the month, which grows with the log (tens of thousands at millions of calls). A day
that has ended never changes again, so its sums are computed once, by the first report
that needs them, and kept in ``DayUsage``; reports then read closed days from there and
only the rest of their period (today, the hours of "last 24 hours") from the hour
counters. The rows are per time zone: after a change of TIME_ZONE, days are cut anew.

A day counts as closed ``GRACE`` after its local midnight, because a call is stamped when
it arrives and committed when it ends (up to UPSTREAM_TIMEOUT later). Anything that
writes counters for the past (``seedusage``) calls ``forget``; ``checkcounters`` proves
the cached days equal the hour counters.
"""

from datetime import date, datetime, timedelta

from django.conf import settings

from usage.metering import db
from usage.reports.periods import local_midnight, team_zone

GRACE = timedelta(hours=1)

CLAIM = (
    "INSERT INTO usage_cachedday (zone, day) VALUES (%s, %s) "
    "ON CONFLICT (zone, day) DO NOTHING RETURNING id"
)
FILL = (
    "INSERT INTO usage_dayusage "
    "(zone, day, key_ref, endpoint, outcome, calls, credits, overage_calls) "
    "SELECT %s, %s, key_ref, endpoint, outcome, SUM(calls), SUM(credits), SUM(overage_calls) "
    "FROM usage_hourusage WHERE key_ref IN ({refs}) AND hour >= %s AND hour < %s "
    "GROUP BY key_ref, endpoint, outcome"
)
CACHED = "SELECT day FROM usage_cachedday WHERE zone = %s AND day >= %s AND day <= %s"


def day_start(day: date) -> datetime:
    """The UTC moment ``day`` begins in the team's time zone."""
    return local_midnight(day, team_zone())


def closed_days(period, now: datetime) -> tuple[date, date] | None:
    """The first and last day of ``period`` that are whole in it and closed, or None.

    They are consecutive: whole days lie between the period's ends, closed ones before now.
    """
    last_end = min(period.end, now - GRACE)
    whole = [
        day
        for day in period.days
        if day_start(day) >= period.start and day_start(day + timedelta(days=1)) <= last_end
    ]
    return (whole[0], whole[-1]) if whole else None


def ensure(first: date, last: date, *, refs: list[int]) -> int:
    """Sum every closed day from ``first`` to ``last`` not yet cached; returns how many.

    ``refs``: every key ref that can have counters (selectors.team_refs), so a cached day
    holds the whole team whatever keys the report that filled it was about.

    One short transaction per day, so the proxy's writers wait for one day's sums at most.
    Two reports filling the same day at once: the claim lets one in, the other skips it.
    """
    zone = settings.TIME_ZONE
    cached = {
        row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])
        for row in db.fetch_all(CACHED, [zone, db.date_param(first), db.date_param(last)])
    }
    missing = [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if first + timedelta(days=i) not in cached
    ]
    if not missing:
        return 0
    fill = FILL.format(refs=", ".join(["%s"] * len(refs)))
    filled = 0
    for day in missing:
        start = db.datetime_param(day_start(day))
        end = db.datetime_param(day_start(day + timedelta(days=1)))
        with db.write() as cur:
            db.run(cur, CLAIM, [zone, db.date_param(day)])
            # A row back: ours to fill (read, not rowcount: PostgreSQL's pipeline mode
            # has no count until the results are read).
            if cur.fetchone() is not None:
                db.run(cur, fill, [zone, db.date_param(day), *refs, start, end])
                filled += 1
    return filled


def forget() -> None:
    """Drop every cached day: counters of past days have changed."""
    with db.write() as cur:
        cur.execute("DELETE FROM usage_dayusage")
        cur.execute("DELETE FROM usage_cachedday")

"""The ledger: admit a call against the limits before forwarding, record it after.

``admit`` runs in one transaction: the per-minute windows (database limiter) and a
monthly credit reserved for the key and for the plan. ``record`` runs in a second one:
the call's row, its hour counter, a credit given back when the upstream did not answer
2xx, overage counted when it did, and the key's last-used time. The proxy calls
``record`` before it returns the answer, so a killed server never loses an answered call.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from keys import crypto
from usage import db, windows
from usage.endpoints import endpoint_name
from usage.limits import UNLIMITED, MinuteDecision, get_limiter
from usage.models import PLAN_REF, Outcome


@dataclass(frozen=True, slots=True)
class PlanLimits:
    name: str
    monthly_credits: int
    rate_limit: int
    overage: bool


@dataclass(slots=True)
class Admission:
    outcome: str | None  # None: go ahead; else the refusal's outcome
    minute: MinuteDecision | None
    credit: bool = False  # a credit was reserved (for the key and the plan)
    overage: bool = False  # past the credits with overage on


@dataclass(frozen=True, slots=True)
class KeyLimits:
    pk: int
    rate_limit: int | None
    monthly_credits: int | None


# The plan's row, with the active key of that digest beside it when there is one.
LIMITS = (
    "SELECT p.name, p.monthly_credits, p.rate_limit, p.overage, "
    "k.id, k.rate_limit, k.monthly_credits FROM usage_plan p "
    "LEFT JOIN keys_apikey k ON k.digest = %s AND k.deleted_at IS NULL WHERE p.id = 1"
)


def limits(raw_key: str) -> tuple[KeyLimits | None, PlanLimits]:
    """The active key for ``raw_key`` (or None) and the plan: one query, two index lookups.

    The key rule is keys.selectors.key_authenticate's, in plain SQL: building the ORM query
    cost more than everything else the database does for a proxied call.
    """
    digest = crypto.digest(raw_key) if crypto.looks_like_key(raw_key) else ""
    row = db.fetch_one(LIMITS, [digest])
    if row is None:
        from usage.models import Plan

        Plan.load()  # a fresh database: create the default plan, then read it as usual
        row = db.fetch_one(LIMITS, [digest])
    plan = PlanLimits(row[0], row[1], row[2], bool(row[3]))
    key = KeyLimits(row[4], row[5], row[6]) if row[4] is not None else None
    return key, plan


RESERVE = (
    "INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls) "
    "VALUES (%s, %s, 1, 0) ON CONFLICT (key_ref, month) DO UPDATE "
    "SET credits_used = usage_monthusage.credits_used + 1 "
    "WHERE usage_monthusage.credits_used < %s RETURNING credits_used"
)
RELEASE = (
    "UPDATE usage_monthusage SET credits_used = credits_used - 1 "
    "WHERE key_ref IN (%s, %s) AND month = %s"
)
RELEASE_ONE = (
    "UPDATE usage_monthusage SET credits_used = credits_used - 1 WHERE key_ref = %s AND month = %s"
)
ADD_OVERAGE = (
    "INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls) "
    "VALUES (%s, %s, 0, 1) ON CONFLICT (key_ref, month) DO UPDATE "
    "SET overage_calls = usage_monthusage.overage_calls + 1"
)
ADD_HOUR = (
    "INSERT INTO usage_hourusage "
    "(key_ref, hour, endpoint, outcome, calls, credits, overage_calls, bytes) "
    "VALUES (%s, %s, %s, %s, 1, %s, %s, %s) "
    "ON CONFLICT (key_ref, hour, endpoint, outcome) DO UPDATE SET "
    "calls = usage_hourusage.calls + 1, credits = usage_hourusage.credits + excluded.credits, "
    "overage_calls = usage_hourusage.overage_calls + excluded.overage_calls, "
    "bytes = usage_hourusage.bytes + excluded.bytes"
)
INSERT_CALL = (
    "INSERT INTO usage_call (at, key_id, method, path, query, status, outcome, credits, "
    "overage, latency_ms, bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
TOUCH_EVERY = timedelta(seconds=1)
# At most once a second per key: a busy key's row (and its page in SQLite's log, its dead
# tuples in PostgreSQL) is not rewritten on every call for a figure shown to the second.
TOUCH_KEY = (
    "UPDATE keys_apikey SET last_used_at = %s "
    "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
)
ADD_BYTES_CALL = "UPDATE usage_call SET bytes = bytes + %s WHERE id = %s"
ADD_BYTES_HOUR = (
    "UPDATE usage_hourusage SET bytes = bytes + %s "
    "WHERE key_ref = %s AND hour = %s AND endpoint = %s AND outcome = %s"
)


def _minute_only(minute: MinuteDecision) -> Admission:
    """The answer when the minute window decides alone: refused, or a call with no credit."""
    return Admission(None if minute.admitted else Outcome.RATE_LIMITED, minute)


def admit(*, key, plan: PlanLimits, now: datetime, charge: bool = True) -> Admission:
    """Decide whether ``key`` may make a call now, reserving what it will use.

    ``charge=False`` (ping, /key) counts against the rate limit but reserves no credit.
    """
    limiter = get_limiter()
    limits = {
        "key_ref": key.pk,
        "key_limit": min(key.rate_limit or UNLIMITED, UNLIMITED),
        "plan_ref": PLAN_REF,
        "plan_limit": plan.rate_limit,
        "now": now,
    }
    if not limiter.in_transaction:  # Redis: its own atomic script, before the transaction
        minute = limiter.admit(**limits)
        if not minute.admitted or not charge:
            return _minute_only(minute)
    # SQLite: BEGIN IMMEDIATE (settings) takes the write lock up front, so two workers
    # never both read a window as open. PostgreSQL: the upserts lock the rows they touch,
    # always the key's before the plan's, so two calls never wait for each other in a cycle.
    with db.write() as cur:
        if limiter.in_transaction:
            minute = limiter.admit(cur=cur, **limits)
            if not minute.admitted or not charge:
                return _minute_only(minute)
        month = db.date_param(windows.month_start(now))
        db.run(cur, RESERVE, [key.pk, month, key.monthly_credits or UNLIMITED])
        key_ok = cur.fetchone() is not None
        plan_ok = False
        if key_ok:
            db.run(cur, RESERVE, [PLAN_REF, month, plan.monthly_credits])
            plan_ok = cur.fetchone() is not None
            if not plan_ok:
                # Still inside the transaction that holds the key's row: nobody saw it.
                db.run(cur, RELEASE_ONE, [key.pk, month])
    if key_ok and plan_ok:
        return Admission(None, minute, credit=True)
    if plan.overage:
        return Admission(None, minute, overage=True)
    return Admission(Outcome.CREDITS_EXHAUSTED, minute)


@dataclass(slots=True)
class CallRecord:
    at: datetime
    key_id: int | None
    method: str
    path: str
    query: str
    status: int
    outcome: str
    latency_ms: float | None = None
    bytes: int = 0


def record(call: CallRecord, admission: Admission | None = None) -> int:
    """Write the call's row and move its counters, in one transaction. Returns the row id."""
    success = 200 <= call.status < 300
    credit = bool(admission and admission.credit)
    charged = 1 if credit and success else 0
    overage = bool(admission and admission.overage and success)
    key_ref = call.key_id or PLAN_REF
    at = db.datetime_param(call.at)
    hour = db.datetime_param(windows.hour_start(call.at))
    with db.write() as cur:
        if credit and not success:
            month = db.date_param(windows.month_start(call.at))
            db.run(cur, RELEASE, [key_ref, PLAN_REF, month])
        if overage:
            month = db.date_param(windows.month_start(call.at))
            db.run(cur, ADD_OVERAGE, [key_ref, month])
            db.run(cur, ADD_OVERAGE, [PLAN_REF, month])
        endpoint = endpoint_name(call.path)
        db.run(
            cur,
            ADD_HOUR,
            [key_ref, hour, endpoint, call.outcome, charged, int(overage), call.bytes],
        )
        db.run(
            cur,
            INSERT_CALL,
            [
                at,
                call.key_id,
                call.method[:10],
                call.path[:300],
                call.query[:1000],
                call.status,
                call.outcome,
                charged,
                overage,
                call.latency_ms,
                call.bytes,
            ],
        )
        call_id = cur.fetchone()[0]
        if call.key_id is not None:
            stale = db.datetime_param(call.at - TOUCH_EVERY)
            db.run(cur, TOUCH_KEY, [at, call.key_id, stale])
    return call_id


def add_bytes(*, call_id: int, call: CallRecord, extra: int) -> None:
    """Add the bytes of a body that streamed out after its row was committed."""
    if extra <= 0:
        return
    hour = db.datetime_param(windows.hour_start(call.at))
    with db.write() as cur:
        db.run(cur, ADD_BYTES_CALL, [extra, call_id])
        db.run(
            cur,
            ADD_BYTES_HOUR,
            [extra, call.key_id or PLAN_REF, hour, endpoint_name(call.path), call.outcome],
        )

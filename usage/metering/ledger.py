"""The ledger: admit a call against the limits before forwarding, record it after.

``admit`` runs in one transaction: the per-minute windows (database limiter) and a
monthly credit reserved for the key and for the plan. ``record`` runs in a second one:
the call's row, its hour counter, a credit given back when the upstream did not answer
2xx, overage counted when it did, and the key's last-used time. The proxy calls
``record`` before it returns the answer, so a killed server never loses an answered call.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from usage.metering import db, windows
from usage.metering.access import KeyLimits, PlanLimits, effective
from usage.metering.counters import (
    ADD_BYTES_HOUR,
    ADD_HOUR,
    ADD_MONTH,
    RELEASE,
    RELEASE_ONE,
    RESERVE,
)
from usage.metering.limiters import MinuteDecision, get_limiter
from usage.models import NO_KEY_REF, PLAN_REF, Outcome
from usage.proxy.endpoints import endpoint_name


@dataclass(slots=True)
class Admission:
    outcome: str | None  # None: go ahead; else the refusal's outcome
    minute: MinuteDecision | None
    credit: bool = False  # a credit was reserved (for the key and the plan)
    overage: bool = False  # past the credits with overage on


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


def _minute_only(minute: MinuteDecision) -> Admission:
    """The answer when the minute window decides alone: refused, or a call with no credit."""
    return Admission(None if minute.admitted else Outcome.RATE_LIMITED, minute)


def admit(*, key: KeyLimits, plan: PlanLimits, now: datetime, charge: bool = True) -> Admission:
    """Decide whether ``key`` may make a call now, reserving what it will use.

    ``charge=False`` (ping, /key) counts against the rate limit but reserves no credit.
    """
    limiter = get_limiter()
    limits = {
        "key_ref": key.pk,
        "key_limit": effective(key.rate_limit, plan.rate_limit),
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
        credits = effective(key.monthly_credits, plan.monthly_credits)
        db.run(cur, RESERVE, [key.pk, month, credits])
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
    key_ref = NO_KEY_REF if call.key_id is None else call.key_id
    at = db.datetime_param(call.at)
    hour = db.datetime_param(windows.hour_start(call.at))
    with db.write() as cur:
        if credit and not success:
            month = db.date_param(windows.month_start(call.at))
            db.run(cur, RELEASE, [call.key_id, PLAN_REF, month])
        if overage:
            month = db.date_param(windows.month_start(call.at))
            db.run(cur, ADD_MONTH, [call.key_id, month, 0, 1])
            db.run(cur, ADD_MONTH, [PLAN_REF, month, 0, 1])
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
    key_ref = NO_KEY_REF if call.key_id is None else call.key_id
    with db.write() as cur:
        db.run(cur, ADD_BYTES_CALL, [extra, call_id])
        db.run(
            cur,
            ADD_BYTES_HOUR,
            [extra, key_ref, hour, endpoint_name(call.path), call.outcome],
        )

"""The ledger: admit a call against the limits before forwarding, record it after.

``admit`` runs in one transaction: the per-minute windows (database limiter), a monthly
credit reserved for the key and for the plan, and, for a call that will be forwarded, its
row in the state "in flight". ``record`` runs in a second one: the call's row completed
(or written, for a refusal), its hour counter, a credit given back when the upstream did
not answer 2xx, overage counted when it did, and the key's last-used time. The proxy calls
``record`` before it returns the answer, so a killed server never loses an answered call,
and a call cut off in flight still has its row: ``settle`` closes it as abandoned.
"""

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from usage.metering import db, metrics, windows
from usage.metering.access import KeyLimits, PlanLimits, effective
from usage.metering.counters import (
    ADD_BYTES_HOUR,
    ADD_HOUR,
    ADD_KEYLESS,
    ADD_MONTH,
    RELEASE,
    RELEASE_ONE,
    RESERVE,
)
from usage.metering.limiters import MinuteDecision, limiter_for_call
from usage.models import NO_KEY_REF, PLAN_REF, Outcome
from usage.proxy.endpoints import endpoint_name


@dataclass(slots=True)
class Admission:
    outcome: str | None  # None: go ahead; else the refusal's outcome
    minute: MinuteDecision | None
    credit: bool = False  # a credit was reserved (for the key and the plan)
    overage: bool = False  # past the credits with overage on
    call_id: int | None = None  # the call's row, written "in flight" with the reservation


INSERT_CALL = (
    "INSERT INTO usage_call (at, key_id, method, path, query, status, outcome, credits, "
    "overage, latency_ms, bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
# PostgreSQL: the admission's credits and row, and the completion, as one statement each
# (functions of migration usage 0011: the same statements, without a round trip apiece).
ADMIT_FUNCTION = (
    "SELECT credit, call_id FROM tollgate_admit(%s::bigint, %s::bigint, %s::date, "
    "%s::integer, %s::integer, %s::boolean, %s::timestamptz, %s::varchar, %s::varchar, "
    "%s::varchar)"
)
COMPLETE_FUNCTION = (
    "SELECT tollgate_complete(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::varchar, "
    "%s::integer, %s::boolean, %s::double precision, %s::bigint, %s::boolean, %s::date, "
    "%s::timestamptz, %s::varchar, %s::timestamptz, %s::timestamptz)"
)
TOUCH_EVERY = timedelta(seconds=1)
# At most once a second per key: a busy key's row (and its page in SQLite's log, its dead
# tuples in PostgreSQL) is not rewritten on every call for a figure shown to the second.
TOUCH_KEY = (
    "UPDATE keys_apikey SET last_used_at = %s "
    "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
)
ADD_BYTES_CALL = "UPDATE usage_call SET bytes = bytes + %s WHERE id = %s"
# Completes an in-flight row, unless settle() closed it as abandoned in the meantime.
COMPLETE_CALL = (
    "UPDATE usage_call SET status = %s, outcome = %s, credits = %s, overage = %s, "
    "latency_ms = %s, bytes = %s WHERE id = %s AND outcome = 'in_flight' RETURNING id"
)


def _minute_only(minute: MinuteDecision) -> Admission:
    """The answer when the minute window decides alone: refused, or a call with no credit."""
    return Admission(None if minute.admitted else Outcome.RATE_LIMITED, minute)


def admit(
    *,
    key: KeyLimits,
    plan: PlanLimits,
    now: datetime,
    call: "CallRecord | None" = None,
    plan_window: bool = True,
) -> Admission:
    """Decide whether ``key`` may make ``call`` now, reserving what it will use.

    Without ``call`` (ping, /key, answered here) the call counts against the rate limit
    but reserves no credit. With it, an admitted call's row is written "in flight" in the
    same transaction as its credit, so no credit is ever reserved without a row.
    Without ``plan_window`` (an answer from the cache, which never reaches the upstream)
    only the key's own minute window counts it.
    """
    charge = call is not None
    limiter = limiter_for_call()  # fixed for this call, even if Redis goes away meanwhile
    limits = _minute_limits(key, plan, now, plan_window=plan_window)
    if not limiter.in_transaction:  # Redis: its own atomic script, before the transaction
        minute = limiter.admit(**limits)
        if not minute.admitted or not charge:
            return _minute_only(minute)
        if not db.is_sqlite():  # one statement: atomic alone, one round trip
            credit, call_id = db.fetch_one(ADMIT_FUNCTION, _admit_params(key, plan, now, call))
            return _admitted(minute, credit, call_id)
    # SQLite: BEGIN IMMEDIATE (settings) takes the write lock up front, so two workers
    # never both read a window as open. PostgreSQL: the upserts lock the rows they touch,
    # always the key's before the plan's, so two calls never wait for each other in a cycle.
    with db.write() as cur:
        if limiter.in_transaction:
            minute = limiter.admit(cur=cur, **limits)
            if not minute.admitted or not charge:
                return _minute_only(minute)
        if not isinstance(cur, sqlite3.Cursor):
            db.run(cur, ADMIT_FUNCTION, _admit_params(key, plan, now, call))
            credit, call_id = cur.fetchone()
            return _admitted(minute, credit, call_id)
        credit = _reserve(cur, key, plan, now)
        if not credit and not plan.overage:
            return Admission(Outcome.CREDITS_EXHAUSTED, minute)
        db.run(cur, INSERT_CALL, _call_row(call, Outcome.IN_FLIGHT, credits=int(credit)))
        call_id = cur.fetchone()[0]
    return Admission(None, minute, credit=credit, overage=not credit, call_id=call_id)


def _minute_limits(key: KeyLimits, plan: PlanLimits, now: datetime, *, plan_window: bool):
    """The limiter's arguments; without ``plan_window``, the key's window alone."""
    return {
        "key_ref": key.pk,
        "key_limit": effective(key.rate_limit, plan.rate_limit),
        "plan_ref": PLAN_REF if plan_window else None,
        "plan_limit": plan.rate_limit,
        "now": now,
    }


def _charges(call: "CallRecord", admission: Admission | None) -> tuple[bool, bool, int, bool]:
    """(success, credit reserved, credits charged, overage) of a call that ended.

    A stale copy served for a failed upstream call is 200 for the client, not a 2xx from
    the upstream: only an "ok" outcome spends the credit.
    """
    success = call.outcome == Outcome.OK
    credit = bool(admission and admission.credit)
    return (
        success,
        credit,
        int(credit and success),
        bool(admission and admission.overage and success),
    )


def _admit_params(key: KeyLimits, plan: PlanLimits, now: datetime, call: "CallRecord") -> list:
    return [
        key.pk,
        PLAN_REF,
        windows.month_start(now),
        effective(key.monthly_credits, plan.monthly_credits),
        plan.monthly_credits,
        plan.overage,
        call.at,
        call.method[:10],
        call.path[:300],
        call.query[:1000],
    ]


def _admitted(minute: MinuteDecision, credit: bool, call_id: int | None) -> Admission:
    """tollgate_admit's answer: no row means the credits are out and overage is off."""
    if call_id is None:
        return Admission(Outcome.CREDITS_EXHAUSTED, minute)
    return Admission(None, minute, credit=credit, overage=not credit, call_id=call_id)


def _reserve(cur, key: KeyLimits, plan: PlanLimits, now: datetime) -> bool:
    """Reserve a credit of the key and of the plan; False (and nothing held) if either is out."""
    month = db.date_param(windows.month_start(now))
    db.run(cur, RESERVE, [key.pk, month, effective(key.monthly_credits, plan.monthly_credits)])
    if cur.fetchone() is None:
        return False
    db.run(cur, RESERVE, [PLAN_REF, month, plan.monthly_credits])
    if cur.fetchone() is None:
        # Still inside the transaction that holds the key's row: nobody saw it.
        db.run(cur, RELEASE_ONE, [key.pk, month])
        return False
    return True


def _call_row(call: "CallRecord", outcome: str, *, credits: int, overage: bool = False):
    return [
        db.datetime_param(call.at),
        call.key_id,
        call.method[:10],
        call.path[:300],
        call.query[:1000],
        call.status,
        outcome,
        credits,
        overage,
        call.latency_ms,
        call.bytes,
    ]


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
    address: str = ""  # the client's, for calls without a valid key
    started: float = field(default_factory=windows.monotonic)  # Tollgate's added latency


def record(call: CallRecord, admission: Admission | None = None) -> int | None:
    """Write (or complete) the call's row and move its counters, in one transaction.

    Returns the row id. A row that ``settle`` closed as abandoned meanwhile stays so: its
    credit was kept, and nothing more is counted. A call without a valid key has no row of
    its own (None): it is counted per minute and client address, so that a flood without
    a key cannot fill the disk.
    """
    call_id = _write(call, admission)
    metrics.observe_call(call)  # after the commit: a write retried later counts once
    return call_id


def _write(call: CallRecord, admission: Admission | None) -> int | None:
    if call.key_id is None:
        _record_keyless(call)
        return None
    if admission is not None and admission.call_id is not None and not db.is_sqlite():
        return _complete_in_postgresql(call, admission)
    with db.write() as cur:
        return _write_record(cur, call, admission)


def _complete_in_postgresql(call: CallRecord, admission: Admission) -> int:
    """A forwarded call's completion as one statement (tollgate_complete): its row, the
    credit given back or the overage counted, its hour counter, the key's last use."""
    success, credit, charged, overage = _charges(call, admission)
    db.fetch_one(
        COMPLETE_FUNCTION,
        [
            admission.call_id,
            call.key_id,
            PLAN_REF,
            call.status,
            call.outcome,
            charged,
            overage,
            call.latency_ms,
            call.bytes,
            credit and not success,
            windows.month_start(call.at),
            windows.hour_start(call.at),
            endpoint_name(call.path),
            call.at,
            call.at - TOUCH_EVERY,
        ],
    )
    return admission.call_id


def record_free(*, key: KeyLimits, plan: PlanLimits, now: datetime, call: CallRecord) -> Admission:
    """A call answered at no credit (from the response cache): counted in the key's minute
    window only, and its row written, in one transaction (with the Redis limiter, Redis
    decides first). A call the window refuses is not recorded here: the caller refuses it.
    """
    limiter = limiter_for_call()
    limits = _minute_limits(key, plan, now, plan_window=False)
    if not limiter.in_transaction:
        admission = _minute_only(limiter.admit(**limits))
        if admission.outcome is None:
            record(call, admission)
        return admission
    with db.write() as cur:
        minute = limiter.admit(cur=cur, **limits)
        if not minute.admitted:
            return _minute_only(minute)
        admission = Admission(None, minute)
        _write_record(cur, call, admission)
    metrics.observe_call(call)
    return admission


def _write_record(cur, call: CallRecord, admission: Admission | None) -> int:
    success, credit, charged, overage = _charges(call, admission)
    key_ref = call.key_id
    at = db.datetime_param(call.at)
    hour = db.datetime_param(windows.hour_start(call.at))
    call_id = admission.call_id if admission else None
    if call_id is None:
        row = _call_row(call, call.outcome, credits=charged, overage=overage)
        db.run(cur, INSERT_CALL, row)
        call_id = cur.fetchone()[0]
    else:
        completion = [call.status, call.outcome, charged, overage, call.latency_ms]
        db.run(cur, COMPLETE_CALL, [*completion, call.bytes, call_id])
        if cur.fetchone() is None:
            return call_id  # settled as abandoned while it was in flight
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
    if call.key_id is not None:
        stale = db.datetime_param(call.at - TOUCH_EVERY)
        db.run(cur, TOUCH_KEY, [at, call.key_id, stale])
    return call_id


def _record_keyless(call: CallRecord) -> None:
    hour = db.datetime_param(windows.hour_start(call.at))
    keyless = [windows.minute_index(call.at), call.address[:45], call.outcome, call.bytes]
    with db.write() as cur:
        db.run(cur, ADD_KEYLESS, keyless)
        db.run(
            cur,
            ADD_HOUR,
            [NO_KEY_REF, hour, endpoint_name(call.path), call.outcome, 0, 0, call.bytes],
        )


def add_bytes(*, call_id: int, call: CallRecord, extra: int) -> None:
    """Add the bytes of a body that streamed out after its row was committed."""
    if extra <= 0:
        return
    hour = db.datetime_param(windows.hour_start(call.at))
    key_ref = call.key_id
    with db.write() as cur:
        db.run(cur, ADD_BYTES_CALL, [extra, call_id])
        db.run(
            cur,
            ADD_BYTES_HOUR,
            [extra, key_ref, hour, endpoint_name(call.path), call.outcome],
        )

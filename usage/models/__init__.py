"""The usage app's models, by concern: ``plan`` (the plan and its changes), ``calls`` (the
usage log and outcomes), ``counters`` (hour, day, month and minute counters), ``alerts``.

Every call under /api/v3/ with a valid key leaves one ``Call`` row. Counters per key per
UTC hour and per key and plan per UTC month move in the same transaction, so reports and
``/key`` read a few counter rows instead of scanning the log. Import from here.
"""

from usage.models.alerts import Alert, AlertDelivery
from usage.models.calls import BUCKETS, Bucket, Call, CallLogHorizon, KeylessCalls, Outcome
from usage.models.counters import (
    NO_KEY_REF,
    PLAN_REF,
    CachedDay,
    DayUsage,
    HourUsage,
    MinuteUsage,
    MonthUsage,
)
from usage.models.plan import Plan, PlanChange

__all__ = [
    "BUCKETS",
    "NO_KEY_REF",
    "PLAN_REF",
    "Alert",
    "AlertDelivery",
    "Bucket",
    "CachedDay",
    "Call",
    "CallLogHorizon",
    "DayUsage",
    "HourUsage",
    "KeylessCalls",
    "MinuteUsage",
    "MonthUsage",
    "Outcome",
    "Plan",
    "PlanChange",
]

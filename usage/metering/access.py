"""Who may call, within which limits: a raw key authenticated, and its effective limits.

The one rule for a raw key: it has Tollgate's shape (keys.crypto), its SHA-256 digest is
an active key's. The proxy, the admin, the console and the tests all authenticate
through ``authenticate``; the plan comes back with it, as the proxy needs both.
"""

from dataclasses import dataclass

from keys import crypto
from usage.metering import db


@dataclass(frozen=True, slots=True)
class PlanLimits:
    name: str
    monthly_credits: int
    rate_limit: int
    overage: bool
    cache_enabled: bool = False
    cache_ttls: str = ""  # staff's own times-to-live (usage.cache.policy)


@dataclass(frozen=True, slots=True)
class KeyLimits:
    pk: int
    rate_limit: int | None  # the key's own; None: the plan's
    monthly_credits: int | None
    owner_active: bool = True  # a deactivated member's keys stop at once


def effective(own: int | None, plan_value: int) -> int:
    """A key's effective limit: its own where it has one, never above the plan's."""
    return min(own or plan_value, plan_value)


# The plan's row, with the active key of that digest beside it when there is one. Plain
# SQL: building the ORM query cost more than everything the database does for a call.
PLAN_AND_KEY = (
    "SELECT p.name, p.monthly_credits, p.rate_limit, p.overage, p.cache_enabled, "
    "p.cache_ttls, k.id, k.rate_limit, k.monthly_credits, u.is_active FROM usage_plan p "
    "LEFT JOIN keys_apikey k ON k.digest = %s AND k.deleted_at IS NULL "
    "LEFT JOIN auth_user u ON u.id = k.owner_id WHERE p.id = 1"
)


def authenticate(raw_key: str) -> tuple[KeyLimits | None, PlanLimits]:
    """The active key for ``raw_key`` (or None) and the plan: one query, three index lookups
    (plan, key by digest, its owner). A raw key of the wrong shape is never hashed nor
    looked up. Whether the key may call also depends on ``owner_active``.
    """
    digest = crypto.digest(raw_key) if crypto.looks_like_key(raw_key) else ""
    row = db.fetch_one(PLAN_AND_KEY, [digest])
    if row is None:
        from usage.models import Plan

        Plan.load()  # a fresh database: create the default plan, then read it as usual
        row = db.fetch_one(PLAN_AND_KEY, [digest])
    plan = PlanLimits(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5])
    key = KeyLimits(row[6], row[7], row[8], bool(row[9])) if row[6] is not None else None
    return key, plan

"""Who may call, within which limits: a raw key authenticated, and its effective limits.

The one rule for a raw key: it has Tollgate's shape (keys.crypto), its SHA-256 digest is
an active key's (its current value, or the value before its last roll while the roll's
grace lasts), the key has not expired and its owner is active; its address allowlist is
the proxy's to check. The proxy, the admin, the console and the tests all authenticate
through ``authenticate``; the plan comes back with it, as the proxy needs both.
"""

from dataclasses import dataclass
from datetime import datetime

from keys import crypto
from usage.metering import db, windows


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
    expired: bool = False  # past its expiry: refused (401, its own message)
    allowed_ips: str = ""  # its address allowlist (keys.networks); blank: any address
    rolled_away: bool = False  # the value before a roll, its grace over: refused (401)


def effective(own: int | None, plan_value: int) -> int:
    """A key's effective limit: its own where it has one, never above the plan's."""
    return min(own or plan_value, plan_value)


# The plan's row, with the active key of that digest beside it when there is one: its
# current value, or the one before its last roll (unique index on each, a two-index OR).
# Whether the value is the current one, the old one still in its grace, and past the
# key's expiry are answered by the database against the caller's clock. Plain SQL:
# building the ORM query cost more than everything the database does for a call.
PLAN_AND_KEY = (
    "SELECT p.name, p.monthly_credits, p.rate_limit, p.overage, p.cache_enabled, "
    "p.cache_ttls, k.id, k.rate_limit, k.monthly_credits, u.is_active, k.allowed_ips, "
    "k.digest = %s OR k.previous_valid_until > %s, k.expires_at <= %s FROM usage_plan p "
    "LEFT JOIN keys_apikey k ON (k.digest = %s OR k.previous_digest = %s) "
    "AND k.deleted_at IS NULL "
    "LEFT JOIN auth_user u ON u.id = k.owner_id WHERE p.id = 1"
)


def authenticate(raw_key: str, now: datetime | None = None) -> tuple[KeyLimits | None, PlanLimits]:
    """The active key for ``raw_key`` (or None) and the plan: one query, three index lookups
    (plan, key by either digest, its owner). A raw key of the wrong shape is never hashed
    nor looked up. Whether the key may call also depends on ``owner_active``, ``expired``,
    ``rolled_away`` and ``allowed_ips`` (at ``now``, the proxy's clock).
    """
    digest = crypto.digest(raw_key) if crypto.looks_like_key(raw_key) else ""
    at = db.datetime_param(now or windows.utc_now())
    params = [digest, at, at, digest, digest]
    row = db.fetch_one(PLAN_AND_KEY, params)
    if row is None:
        from usage.models import Plan

        Plan.load()  # a fresh database: create the default plan, then read it as usual
        row = db.fetch_one(PLAN_AND_KEY, params)
    plan = PlanLimits(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5])
    if row[6] is None:
        return None, plan
    key = KeyLimits(
        row[6],
        row[7],
        row[8],
        owner_active=bool(row[9]),
        expired=bool(row[12]),
        allowed_ips=row[10] or "",
        rolled_away=not row[11],
    )
    return key, plan

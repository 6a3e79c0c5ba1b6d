"""Minute windows in the database (the default): an upsert per window inside the caller's
transaction. SQLite's IMMEDIATE transactions serialise writers and PostgreSQL's row lock
makes the second writer re-check the WHERE clause after the first commits, so concurrent
workers never admit one call too many, nor refuse one too few."""

from datetime import datetime

from usage.metering import db, windows
from usage.metering.limiters.base import decision


class DatabaseLimiter:
    """Minute windows in the ``usage_minuteusage`` table. Call inside a transaction."""

    # Increment below the limit, or insert the window's first call; no row back means full.
    UPSERT = (
        "INSERT INTO usage_minuteusage (key_ref, minute, calls) VALUES (%s, %s, 1) "
        "ON CONFLICT (key_ref, minute) DO UPDATE SET calls = usage_minuteusage.calls + 1 "
        "WHERE usage_minuteusage.calls < %s RETURNING calls"
    )
    UNDO = "UPDATE usage_minuteusage SET calls = calls - 1 WHERE key_ref = %s AND minute = %s"
    SWEEP = "DELETE FROM usage_minuteusage WHERE minute < %s"
    COUNT = "SELECT calls FROM usage_minuteusage WHERE key_ref = %s AND minute = %s"

    in_transaction = True

    def admit(self, *, cur, key_ref, key_limit, plan_ref, plan_limit, now: datetime):
        """Run inside the caller's write transaction, on its cursor."""
        minute = windows.minute_index(now)
        db.run(cur, self.UPSERT, [key_ref, minute, key_limit])
        row = cur.fetchone()
        if row is None:
            return decision(False, key_limit, plan_limit, key_limit, 0, now)
        key_calls = row[0]
        if plan_ref is None:  # the key's window only
            return decision(True, key_limit, plan_limit, key_calls, 0, now)
        db.run(cur, self.UPSERT, [plan_ref, minute, plan_limit])
        plan_row = cur.fetchone()
        if plan_row is None:
            # Still inside the transaction that holds the key's row: nobody saw it.
            db.run(cur, self.UNDO, [key_ref, minute])
            return decision(False, key_limit, plan_limit, key_calls - 1, plan_limit, now)
        if key_calls == 1:
            # First call of this key's minute: sweep windows that can no longer matter.
            db.run(cur, self.SWEEP, [minute - 2])
        return decision(True, key_limit, plan_limit, key_calls, plan_row[0], now)

    def current(self, *, key_ref: int, now: datetime) -> int:
        row = db.fetch_one(self.COUNT, [key_ref, windows.minute_index(now)])
        return row[0] if row else 0

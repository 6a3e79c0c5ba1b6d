"""The counters' SQL: every statement that moves a counter, for the ledger and the seeder.

The hour and month counters only ever grow by upserts (``ON CONFLICT ... DO UPDATE``) that
add the new values to the old, so a call recorded by the proxy and a batch written by
``seedusage`` leave exactly the same rows. Statements are fixed strings with ``%s``
placeholders (``db.run`` turns them into SQLite's ``?``); the f-strings below only join
these fixed column lists, never a value.
"""

HOUR_COLUMNS = "key_ref, hour, endpoint, outcome, calls, credits, overage_calls, bytes"
MONTH_COLUMNS = "key_ref, month, credits_used, overage_calls"


def add_hours(source: str) -> str:
    """Add the rows of ``source`` (VALUES or a SELECT of HOUR_COLUMNS) to the hour counters."""
    return (
        f"INSERT INTO usage_hourusage ({HOUR_COLUMNS}) {source} "
        "ON CONFLICT (key_ref, hour, endpoint, outcome) DO UPDATE SET "
        "calls = usage_hourusage.calls + excluded.calls, "
        "credits = usage_hourusage.credits + excluded.credits, "
        "overage_calls = usage_hourusage.overage_calls + excluded.overage_calls, "
        "bytes = usage_hourusage.bytes + excluded.bytes"
    )


def add_months(rows: int = 1, placeholder: str = "%s") -> str:
    """Add ``rows`` rows of MONTH_COLUMNS to the month counters."""
    row = "(" + ", ".join([placeholder] * 4) + ")"
    values = ", ".join([row] * rows)
    return (
        f"INSERT INTO usage_monthusage ({MONTH_COLUMNS}) VALUES {values} "  # noqa: S608
        "ON CONFLICT (key_ref, month) DO UPDATE SET "
        "credits_used = usage_monthusage.credits_used + excluded.credits_used, "
        "overage_calls = usage_monthusage.overage_calls + excluded.overage_calls"
    )


# One call: calls = 1; credits, overage and bytes as given.
ADD_HOUR = add_hours("VALUES (%s, %s, %s, %s, 1, %s, %s, %s)")
# One overage call for a key or the plan: VALUES (ref, month, 0, 1).
ADD_MONTH = add_months()

# Reserve one credit, only below the limit: no row back means the credits are used up.
RESERVE = (
    f"INSERT INTO usage_monthusage ({MONTH_COLUMNS}) VALUES (%s, %s, 1, 0) "  # noqa: S608
    "ON CONFLICT (key_ref, month) DO UPDATE "
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
# A call without a valid key: one row per minute, client address and outcome.
ADD_KEYLESS = (
    "INSERT INTO usage_keylesscalls (minute, address, outcome, calls, bytes) "
    "VALUES (%s, %s, %s, 1, %s) ON CONFLICT (minute, address, outcome) DO UPDATE SET "
    "calls = usage_keylesscalls.calls + 1, bytes = usage_keylesscalls.bytes + excluded.bytes"
)
ADD_BYTES_HOUR = (
    "UPDATE usage_hourusage SET bytes = bytes + %s "
    "WHERE key_ref = %s AND hour = %s AND endpoint = %s AND outcome = %s"
)

"""PostgreSQL only: the ledger's two hot transactions as functions, one round trip each.

A forwarded call reserved its credits and wrote its row in flight with five statements,
and completed it with four, each read back over the network: under gevent every round
trip is also a trip through the event loop. The functions run the same statements, in
the same order (the key's month row locked before the plan's), inside the database.
usage/metering/ledger.py calls them; SQLite keeps the statements (no network to save).
"""

from django.db import migrations

ADMIT = """
CREATE OR REPLACE FUNCTION tollgate_admit(
    p_key bigint, p_plan bigint, p_month date, p_key_credits integer,
    p_plan_credits integer, p_overage boolean, p_at timestamptz,
    p_method varchar, p_path varchar, p_query varchar,
    OUT credit boolean, OUT call_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    got integer;
BEGIN
    credit := false;
    call_id := NULL;
    INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls)
        VALUES (p_key, p_month, 1, 0)
        ON CONFLICT (key_ref, month) DO UPDATE
        SET credits_used = usage_monthusage.credits_used + 1
        WHERE usage_monthusage.credits_used < p_key_credits
        RETURNING credits_used INTO got;
    IF got IS NOT NULL THEN
        got := NULL;
        INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls)
            VALUES (p_plan, p_month, 1, 0)
            ON CONFLICT (key_ref, month) DO UPDATE
            SET credits_used = usage_monthusage.credits_used + 1
            WHERE usage_monthusage.credits_used < p_plan_credits
            RETURNING credits_used INTO got;
        IF got IS NULL THEN
            UPDATE usage_monthusage SET credits_used = credits_used - 1
                WHERE key_ref = p_key AND month = p_month;
        ELSE
            credit := true;
        END IF;
    END IF;
    IF credit OR p_overage THEN
        INSERT INTO usage_call (at, key_id, method, path, query, status, outcome, credits,
                                overage, latency_ms, bytes)
            VALUES (p_at, p_key, p_method, p_path, p_query, 0, 'in_flight', credit::integer,
                    false, NULL, 0)
            RETURNING id INTO call_id;
    END IF;
END
$$;
"""

COMPLETE = """
CREATE OR REPLACE FUNCTION tollgate_complete(
    p_call bigint, p_key bigint, p_plan bigint, p_status integer, p_outcome varchar,
    p_charged integer, p_overage boolean, p_latency double precision, p_bytes bigint,
    p_release boolean, p_month date, p_hour timestamptz, p_endpoint varchar,
    p_at timestamptz, p_stale timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    done bigint;
BEGIN
    UPDATE usage_call SET status = p_status, outcome = p_outcome, credits = p_charged,
        overage = p_overage, latency_ms = p_latency, bytes = p_bytes
        WHERE id = p_call AND outcome = 'in_flight'
        RETURNING id INTO done;
    IF done IS NULL THEN
        RETURN NULL;  -- settled as abandoned while it was in flight
    END IF;
    IF p_release THEN
        UPDATE usage_monthusage SET credits_used = credits_used - 1
            WHERE key_ref IN (p_key, p_plan) AND month = p_month;
    END IF;
    IF p_overage THEN
        INSERT INTO usage_monthusage (key_ref, month, credits_used, overage_calls)
            VALUES (p_key, p_month, 0, 1), (p_plan, p_month, 0, 1)
            ON CONFLICT (key_ref, month) DO UPDATE
            SET overage_calls = usage_monthusage.overage_calls + excluded.overage_calls;
    END IF;
    INSERT INTO usage_hourusage (key_ref, hour, endpoint, outcome, calls, credits,
                                 overage_calls, bytes)
        VALUES (p_key, p_hour, p_endpoint, p_outcome, 1, p_charged, p_overage::integer,
                p_bytes)
        ON CONFLICT (key_ref, hour, endpoint, outcome) DO UPDATE SET
        calls = usage_hourusage.calls + 1,
        credits = usage_hourusage.credits + excluded.credits,
        overage_calls = usage_hourusage.overage_calls + excluded.overage_calls,
        bytes = usage_hourusage.bytes + excluded.bytes;
    UPDATE keys_apikey SET last_used_at = p_at
        WHERE id = p_key AND (last_used_at IS NULL OR last_used_at < p_stale);
    RETURN done;
END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS tollgate_admit(bigint, bigint, date, integer, integer, boolean,
    timestamptz, varchar, varchar, varchar);
DROP FUNCTION IF EXISTS tollgate_complete(bigint, bigint, bigint, integer, varchar, integer,
    boolean, double precision, bigint, boolean, date, timestamptz, varchar, timestamptz,
    timestamptz);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ADMIT)
        schema_editor.execute(COMPLETE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("usage", "0010_call_log_horizon"), ("keys", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]

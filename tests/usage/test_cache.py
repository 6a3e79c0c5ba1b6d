"""The response cache, in one process: what is kept, for whom, for how long, at what cost.

Runs against the simulated upstream on whichever store the run has (the SQLite file, or
Redis when REDIS_URL is set). Coalescing across worker processes is in
test_cache_processes.py.
"""

import gzip
import json
import sqlite3
import time

import pytest
from django.conf import settings as django_settings

from usage.cache import stores
from usage.metering.limiters import calls_this_minute
from usage.metering.windows import utc_now
from usage.models import PLAN_REF, Call, MonthUsage
from usage.plan.services import plan_update

PRICE = "/simple/price"
PRICE_QUERY = {"ids": "bitcoin", "vs_currencies": "usd"}


@pytest.fixture
def cache_on(plan):
    return plan_update(source="test", cache_enabled=True)


def outcomes():
    return [(c.outcome, c.credits) for c in Call.objects.order_by("id")]


def credits_used() -> int:
    return sum(m.credits_used for m in MonthUsage.objects.filter(key_ref=PLAN_REF))


def stored_bytes() -> bytes:
    """Everything the store holds, keys and values, as one blob to search."""
    store = stores.get_store()
    if django_settings.REDIS_URL:
        found = b""
        for name in store.client.scan_iter(f"{store.prefix}:*"):
            value = store.client.get(name) or b""
            found += name + b"\n" + value + b"\n"
        return found
    conn = sqlite3.connect(django_settings.CACHE_FILE)
    rows = conn.execute("SELECT k, blob FROM entry UNION ALL SELECT k, blob FROM result")
    return b"".join(k.encode() + b"\n" + bytes(blob) for k, blob in rows)


def upstream_calls(upstream) -> int:
    """Calls that reached the simulated CoinGecko."""
    return upstream.count


def test_it_is_off_on_a_fresh_install(api):
    first = api.get(PRICE, **PRICE_QUERY)
    second = api.get(PRICE, **PRICE_QUERY)
    assert first.status_code == second.status_code == 200
    assert upstream_calls(api.simulator) == 2
    assert "x-tollgate-cache" not in second
    assert outcomes() == [("ok", 1), ("ok", 1)]


def test_a_repeat_is_answered_from_the_cache_at_no_credit(api, cache_on):
    first = api.get(PRICE, **PRICE_QUERY)
    time.sleep(1.05)
    second = api.get(PRICE, **PRICE_QUERY)
    assert first["x-tollgate-cache"] == "miss"
    assert second["x-tollgate-cache"] == "hit"
    assert int(second["Age"]) >= 1
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert upstream_calls(api.simulator) == 1
    assert outcomes() == [("ok", 1), ("cached", 0)]
    assert credits_used() == 1
    key = json.loads(api.get("/key").content)
    assert key["current_total_monthly_calls"] == 1
    assert key["api_key_current_total_monthly_calls"] == 1


def test_the_question_is_the_same_in_any_order_and_never_holds_a_key(api, cache_on):
    api.get(PRICE, ids="bitcoin", vs_currencies="usd")
    again = api.get(PRICE, via="query", vs_currencies="usd", ids="bitcoin")
    assert again["x-tollgate-cache"] == "hit"
    assert upstream_calls(api.simulator) == 1
    held = stored_bytes()
    assert held  # the answer is there...
    assert api.raw.encode() not in held  # ...but never the client's key
    assert django_settings.UPSTREAM_API_KEY.encode() not in held  # nor the team's


def test_other_parameters_are_other_questions(api, cache_on):
    api.get(PRICE, ids="bitcoin", vs_currencies="usd")
    other = api.get(PRICE, ids="ethereum", vs_currencies="usd")
    assert other["x-tollgate-cache"] == "miss"
    assert upstream_calls(api.simulator) == 2


def test_a_client_that_does_not_accept_gzip_never_gets_a_gzipped_body(
    api, cache_on, upstream, client
):
    upstream.configure(gzip=True)
    zipped = client.get(
        "/api/v3" + PRICE, PRICE_QUERY, HTTP_X_CG_PRO_API_KEY=api.raw, HTTP_ACCEPT_ENCODING="gzip"
    )
    assert zipped["Content-Encoding"] == "gzip"
    plain = client.get(
        "/api/v3" + PRICE,
        PRICE_QUERY,
        HTTP_X_CG_PRO_API_KEY=api.raw,
        HTTP_ACCEPT_ENCODING="identity",
    )
    assert plain["x-tollgate-cache"] == "miss"
    assert "Content-Encoding" not in plain
    assert json.loads(plain.content) == json.loads(gzip.decompress(zipped.content))
    zipped_again = client.get(
        "/api/v3" + PRICE,
        PRICE_QUERY,
        HTTP_X_CG_PRO_API_KEY=api.raw,
        HTTP_ACCEPT_ENCODING="gzip, deflate, br",
    )
    assert zipped_again["x-tollgate-cache"] == "hit"
    assert zipped_again["Content-Encoding"] == "gzip"
    assert upstream_calls(api.simulator) == 2


def test_endpoints_without_a_time_to_live_are_not_cached(api, cache_on):
    api.get("/search", query="bit")
    assert "x-tollgate-cache" not in api.get("/search", query="bit")
    assert upstream_calls(api.simulator) == 2
    plan_update(source="test", cache_ttls="/search=60,/simple/price=0")
    api.get("/search", query="bit")
    assert api.get("/search", query="bit")["x-tollgate-cache"] == "hit"
    api.get(PRICE, **PRICE_QUERY)
    assert "x-tollgate-cache" not in api.get(PRICE, **PRICE_QUERY)
    assert upstream_calls(api.simulator) == 5


def test_ping_and_key_are_never_cached(api, cache_on):
    for _ in range(2):
        assert "x-tollgate-cache" not in api.get("/ping")
        assert "x-tollgate-cache" not in api.get("/key")


@pytest.mark.parametrize("control", ["no-store", "private, max-age=30"])
def test_answers_the_upstream_keeps_private_are_not_kept(api, cache_on, upstream, control):
    upstream.configure(cache_control=control)
    api.get(PRICE, **PRICE_QUERY)
    assert api.get(PRICE, **PRICE_QUERY)["x-tollgate-cache"] == "miss"
    assert upstream_calls(api.simulator) == 2


def test_errors_are_not_kept(api, cache_on, upstream):
    upstream.configure(fail_next=[500])
    assert api.get(PRICE, **PRICE_QUERY).status_code == 500
    answer = api.get(PRICE, **PRICE_QUERY)
    assert answer.status_code == 200
    assert answer["x-tollgate-cache"] == "miss"
    assert outcomes() == [("upstream_error", 0), ("ok", 1)]


def test_no_cache_from_the_client_goes_upstream_pays_and_refreshes(api, cache_on, client):
    api.get(PRICE, **PRICE_QUERY)
    fresh = client.get(
        "/api/v3" + PRICE, PRICE_QUERY, HTTP_X_CG_PRO_API_KEY=api.raw, HTTP_CACHE_CONTROL="no-cache"
    )
    assert fresh["x-tollgate-cache"] == "miss"
    hit = api.get(PRICE, **PRICE_QUERY)
    assert hit["x-tollgate-cache"] == "hit"
    assert int(hit["Age"]) == 0
    assert upstream_calls(api.simulator) == 2
    assert outcomes() == [("ok", 1), ("ok", 1), ("cached", 0)]


def test_a_head_is_answered_from_the_cache_without_a_body(api, cache_on, client):
    got = api.get(PRICE, **PRICE_QUERY)
    head = client.head("/api/v3" + PRICE, PRICE_QUERY, HTTP_X_CG_PRO_API_KEY=api.raw)
    assert head.status_code == 200
    assert head["x-tollgate-cache"] == "hit"
    assert head.content == b""
    assert head["Content-Length"] == str(len(got.content))


def test_hits_count_in_the_keys_minute_but_not_the_plans(api, cache_on):
    api.key.rate_limit = 3
    api.key.save()
    statuses = [api.get(PRICE, **PRICE_QUERY).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    counts = calls_this_minute(key_refs=[api.key.pk, PLAN_REF], now=utc_now())
    assert counts == {api.key.pk: 3, PLAN_REF: 1}
    assert outcomes() == [("ok", 1), ("cached", 0), ("cached", 0), ("rate_limited", 0)]


@pytest.fixture
def short_ttl(cache_on):
    return plan_update(source="test", cache_ttls="/simple/price=1")


def test_an_expired_copy_is_fetched_again(api, short_ttl):
    api.get(PRICE, **PRICE_QUERY)
    time.sleep(1.1)
    assert api.get(PRICE, **PRICE_QUERY)["x-tollgate-cache"] == "miss"
    assert upstream_calls(api.simulator) == 2


@pytest.mark.parametrize("failure", [503, 429, "timeout", "unreachable"])
def test_a_stale_copy_answers_when_the_upstream_fails(api, short_ttl, upstream, settings, failure):
    first = api.get(PRICE, **PRICE_QUERY)
    time.sleep(1.1)
    if failure == "timeout":
        settings.UPSTREAM_TIMEOUT = 0.3
        upstream.configure(delay=1)
    elif failure == "unreachable":
        settings.UPSTREAM_URL = "http://127.0.0.1:9/api/v3"  # the discard port: refused
    else:
        upstream.configure(fail_next=[failure])
    stale = api.get(PRICE, **PRICE_QUERY)
    assert stale.status_code == 200
    assert stale["x-tollgate-cache"] == "stale"
    assert int(stale["Age"]) >= 1
    assert stale.content == first.content
    assert outcomes() == [("ok", 1), ("stale", 0)]
    assert credits_used() == 1


def test_without_a_stale_window_the_failure_goes_through(api, short_ttl, upstream, settings):
    settings.CACHE_STALE_SECONDS = 0
    api.get(PRICE, **PRICE_QUERY)
    time.sleep(1.1)
    upstream.configure(fail_next=[503])
    assert api.get(PRICE, **PRICE_QUERY).status_code == 503
    assert outcomes() == [("ok", 1), ("upstream_error", 0)]


def test_a_store_that_is_away_leaves_calls_uncached_not_failed(
    api, cache_on, settings, tmp_path, caplog
):
    if settings.REDIS_URL:
        settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    else:
        settings.CACHE_FILE = tmp_path / "no-such-folder" / "cache.sqlite3"
    stores.reset()
    answers = [api.get(PRICE, **PRICE_QUERY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert upstream_calls(api.simulator) == 3
    assert outcomes() == [("ok", 1)] * 3
    warnings = [r for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(warnings) == 1

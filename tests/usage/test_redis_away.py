"""Redis away: the proxy keeps answering, the minute windows come from the database.

Real faults, no mocks: REDIS_URL at a port nobody listens on (refused at once), and at a
server that accepts and never answers (every try costs the whole timeout).
"""

import io
import logging
import os
import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from keys.services import key_update
from tests.redis_standin import StandInRedis
from tests.support import free_port
from usage.metering import windows
from usage.metering.limiters import get_limiter
from usage.models import Call

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
REAL_REDIS_URL = os.environ.get("REDIS_URL", "")
AWAY = "Redis unavailable: per-minute limits from the database"
BACK = "Redis answers again"


@pytest.fixture
def point_redis(settings, caplog):
    """Point Tollgate at ``url`` as Redis, with a fresh limiter (and circuit)."""
    caplog.set_level(logging.INFO, logger="usage.metering.limiters")

    def point(url, *, retry_interval=10.0):
        settings.REDIS_URL = url
        settings.REDIS_TIMEOUT = 0.25
        settings.REDIS_RETRY_INTERVAL = retry_interval
        get_limiter.cache_clear()

    return point


@pytest.fixture
def silent_redis():
    with StandInRedis() as standin:
        yield standin


def logged(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


def errors(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_with_redis_refusing_calls_go_through_and_the_limit_holds_exactly(
    api, point_redis, caplog, clock
):
    point_redis(f"redis://127.0.0.1:{free_port()}/0")
    key_update(key=api.key, label=api.key.label, rate_limit=3, monthly_credits=None)
    statuses = [api.get(path).status_code for path in ("/ping", "/simple/price", "/key")]
    refused = api.get("/simple/price")
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["x-ratelimit-remaining"] == "0"
    assert list(Call.objects.order_by("id").values_list("path", "status")) == [
        ("/ping", 200),
        ("/simple/price", 200),
        ("/key", 200),
        ("/simple/price", 429),
    ]
    assert len(logged(caplog, AWAY)) == 1
    assert errors(caplog) == []
    out = io.StringIO()
    call_command("checkcounters", stdout=out)  # nothing lost to the fault
    assert "counters match the call log" in out.getvalue()


def test_a_silent_redis_costs_one_try_per_interval_not_one_per_call(
    api, point_redis, silent_redis, caplog, clock
):
    point_redis(silent_redis.url)
    started = time.monotonic()
    statuses = [api.get("/ping").status_code for _ in range(20)]
    elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert Call.objects.filter(status=200).count() == 20
    assert silent_redis.accepted == 1
    assert elapsed < 5  # 20 tries would take 20 x 0.25 s
    assert len(logged(caplog, AWAY)) == 1
    assert errors(caplog) == []


def test_after_the_interval_one_call_tries_redis_again_and_the_episode_logs_once(
    api, point_redis, silent_redis, caplog, clock
):
    point_redis(silent_redis.url, retry_interval=0.3)
    assert [api.get("/ping").status_code for _ in range(3)] == [200] * 3
    assert silent_redis.accepted == 1
    time.sleep(0.35)
    assert [api.get("/ping").status_code for _ in range(3)] == [200] * 3
    assert silent_redis.accepted == 2
    assert len(logged(caplog, AWAY)) == 1  # still the same episode
    assert api.get("/ping")["x-ratelimit-remaining"] == "93"  # the database counted all 7


def test_the_usage_page_says_redis_is_away_and_shows_the_databases_count(
    api, owner_client, point_redis, silent_redis, clock
):
    point_redis(silent_redis.url)
    api.get("/simple/price")
    api.get("/ping")
    page = owner_client.get(reverse("usage:report"))
    live = owner_client.get(reverse("usage:live"), HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert 'data-testid="redis-away"' in page.content.decode()
    assert "Redis is unavailable" in page.content.decode()
    assert live.status_code == 200
    assert 'data-testid="live-plan">2<' in live.content.decode()
    assert "counted by the database while Redis is unavailable" in live.content.decode()
    assert silent_redis.accepted == 1


def test_the_usage_page_has_no_banner_when_nothing_is_away(api, owner_client, settings):
    settings.REDIS_URL = ""
    get_limiter.cache_clear()
    api.get("/ping")
    page = owner_client.get(reverse("usage:report"))
    assert 'data-testid="live-plan">1<' in page.content.decode()
    assert 'data-testid="redis-away"' not in page.content.decode()


@pytest.mark.skipif(not REAL_REDIS_URL, reason="REDIS_URL is not set")
def test_when_redis_answers_again_the_windows_go_back_to_it(
    api, owner_client, point_redis, silent_redis, caplog, settings, clock
):
    import redis

    point_redis(silent_redis.url, retry_interval=0.3)
    assert api.get("/ping").status_code == 200
    assert 'data-testid="redis-away"' in owner_client.get(reverse("usage:report")).content.decode()
    silent_redis.relay_to(REAL_REDIS_URL)
    time.sleep(0.35)
    assert api.get("/ping").status_code == 200
    assert len(logged(caplog, BACK)) == 1
    page = owner_client.get(reverse("usage:report")).content.decode()
    assert 'data-testid="redis-away"' not in page
    window = f"{settings.REDIS_PREFIX}:rpm:{api.key.pk}:{windows.minute_index(NOW)}"
    assert redis.Redis.from_url(REAL_REDIS_URL).get(window) == b"1"

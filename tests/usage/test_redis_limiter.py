"""The Redis limiter against a real Redis (REDIS_URL); CI's PostgreSQL pass sets it."""

import os
import uuid
from datetime import UTC, datetime

import pytest

from usage.metering.limiters.redis import RedisLimiter

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)


@pytest.fixture
def limiter():
    limiter = RedisLimiter(REDIS_URL, prefix=f"tollgate-test-{uuid.uuid4().hex}")
    yield limiter
    for name in limiter.client.scan_iter(f"{limiter.prefix}:*"):
        limiter.client.delete(name)


def test_it_admits_up_to_the_tighter_limit(limiter):
    results = [
        limiter.admit(key_ref=1, key_limit=3, plan_ref=0, plan_limit=10, now=NOW) for _ in range(5)
    ]
    assert [r.admitted for r in results] == [True, True, True, False, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0, 0]
    assert results[-1].retry_after == 40


def test_the_plan_window_is_shared_by_keys(limiter):
    admitted = [
        limiter.admit(key_ref=ref, key_limit=100, plan_ref=0, plan_limit=4, now=NOW).admitted
        for ref in (1, 2, 1, 2, 1, 2)
    ]
    assert admitted == [True, True, True, True, False, False]
    assert limiter.current(key_ref=1, now=NOW) == 2


def test_no_counter_is_ever_left_without_its_expiry(limiter):
    for ref in (1, 2, 3):
        limiter.admit(key_ref=ref, key_limit=1, plan_ref=0, plan_limit=100, now=NOW)
        limiter.admit(key_ref=ref, key_limit=1, plan_ref=0, plan_limit=100, now=NOW)  # refused
    names = list(limiter.client.scan_iter(f"{limiter.prefix}:*"))
    assert len(names) == 4  # three keys and the plan
    for name in names:
        assert 0 < limiter.client.ttl(name) <= 180

"""Fixtures for the proxy: a simulated upstream, a fresh limiter, a key to call with."""

import time
import uuid

import pytest

from devtools.simulator import SimulatedUpstream
from tests.support import TEAM_KEY
from usage.cache import serve as cache_serve
from usage.cache import stores as cache_stores
from usage.metering import completions
from usage.metering.limiters import get_limiter
from usage.models import Plan


@pytest.fixture(scope="session")
def _simulator():
    with SimulatedUpstream(api_key=TEAM_KEY) as sim:
        yield sim


@pytest.fixture
def upstream(_simulator, settings):
    """The simulated CoinGecko, reset, with Tollgate pointed at it and holding the team key."""
    _simulator.reset()
    settings.UPSTREAM_URL = _simulator.url
    settings.UPSTREAM_API_KEY = TEAM_KEY
    settings.UPSTREAM_KEY_HEADER = "x-cg-pro-api-key"
    return _simulator


@pytest.fixture(autouse=True)
def _fresh_limiter(settings):
    """Each test its own Redis key space (when REDIS_URL is set) and a new limiter object."""
    settings.REDIS_PREFIX = f"tollgate-test-{uuid.uuid4().hex}"
    get_limiter.cache_clear()
    yield
    get_limiter.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_cache(settings, tmp_path, _fresh_limiter):
    """Each test its own response cache: a file of its own, or its own Redis prefix."""
    settings.CACHE_FILE = tmp_path / "response-cache.sqlite3"
    cache_stores.reset()
    cache_serve.outage.until = 0.0
    yield
    cache_stores.reset()


@pytest.fixture(autouse=True)
def _no_completion_left_behind():
    """A completion deferred by one test (the database failing) must not be written into
    the next one's database: wait for the background writer to finish."""
    yield
    deadline = time.monotonic() + 10
    while completions.pending() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def plan(db):
    """The team's plan, small enough to run out of in a test."""
    plan = Plan.load()
    plan.name = "Analyst"
    plan.monthly_credits = 1000
    plan.rate_limit = 100
    plan.overage = False
    plan.save()
    return plan


@pytest.fixture
def api(client, owner_key, upstream, plan):
    """Call the proxy as the owner's key would: api.get("/simple/price", ids="bitcoin")."""

    class Api:
        key, raw = owner_key
        simulator = upstream

        def get(self, path, *, raw_key=None, via="header", **params):
            raw_key = self.raw if raw_key is None else raw_key
            headers = {}
            if via == "header":
                headers["HTTP_X_CG_PRO_API_KEY"] = raw_key
            elif via == "query":
                params["x_cg_pro_api_key"] = raw_key
            return client.get(f"/api/v3{path}", params, **headers)

    return Api()

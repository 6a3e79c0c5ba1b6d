"""The two Python clients people point at Tollgate, unchanged, against a running server.

``coingecko-sdk`` (official, key in a header, retries 429s) and ``pycoingecko`` (key in
the query string, no retries) each talk to pytest-django's live server, which forwards to
the simulated CoinGecko (``upstream``). What a user needs: the calls work and ``/key``
reports Tollgate's ledger; refusals arrive as the exceptions each client raises for
CoinGecko's own errors. What the team needs: only the team key goes upstream, the
client's key never does, and the usage log has one row per call with the right credits
and no copy of the raw key.

Per-minute windows are calendar minutes (as CoinGecko's), so a rate-limit test that
straddled a minute boundary would see its third call admitted: those tests first step
clear of the boundary. The Retry-After test needs the SDK's retry to land in the next
minute: it sets Tollgate's clock (the live server runs in this process) to second 56 of a
minute, so the SDK's real wait is about four seconds.
"""

import math
import time
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from coingecko_sdk import AuthenticationError, Coingecko, DefaultHttpxClient, RateLimitError
from pycoingecko import CoinGeckoAPI

from keys.services import key_create, key_update
from tests.support import TEAM_KEY
from usage.metering import windows
from usage.models import Call, KeylessCalls, Outcome

PING = {"gecko_says": "(V3) To the Moon!"}
BTC_USD = 67187.3358936566  # the simulator's /simple/price body
UNKNOWN_KEY = "tg_" + "Z" * 40  # well formed, never issued
PLAN_FIELDS = {  # the `plan` fixture, as /key reports it
    "plan": "Analyst",
    "rate_limit_request_per_minute": 100,
    "monthly_call_credit": 1000,
}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_client_environment(monkeypatch):
    """Neither client may pick up a key, URL or proxy from the machine running the tests."""
    for name in (
        "COINGECKO_PRO_API_KEY",
        "COINGECKO_DEMO_API_KEY",
        "COINGECKO_BASE_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tollgate(transactional_db, live_server, upstream, plan):
    """The proxy's root, as a user would configure it: http://HOST:PORT/api/v3."""
    return f"{live_server.url}/api/v3"


@pytest.fixture
def client_key(owner):
    """A fresh Tollgate key of the owner's: (ApiKey, raw)."""
    return key_create(owner=owner, label="client library")


@pytest.fixture
def sdk(tollgate):
    """Build official SDK clients pointed at Tollgate; closes them afterwards."""
    made = []

    def make(raw, **options):
        client = Coingecko(pro_api_key=raw, base_url=tollgate, environment="pro", **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def gecko(tollgate):
    """Build pycoingecko clients pointed at Tollgate (its base URL needs the trailing slash)."""
    made = []

    def make(raw=""):
        cg = CoinGeckoAPI(api_key=raw)
        cg.api_base_url = f"{tollgate}/"
        made.append(cg)
        return cg

    yield make
    for cg in made:
        cg.session.close()


# --- helpers -------------------------------------------------------------------------------


def log_rows():
    """The usage log, oldest first, with the query parsed (clients order parameters freely)."""
    return [
        (c.key_id, c.method, c.path, sorted(parse_qsl(c.query)), c.status, c.outcome, c.credits)
        for c in Call.objects.order_by("id")
    ]


def keyless_rows():
    """Calls without a valid key: counted per minute, address and outcome."""
    return [(row.outcome, row.calls) for row in KeylessCalls.objects.order_by("id")]


def assert_raw_key_not_logged(raw):
    for call in Call.objects.all():
        assert raw not in call.path
        assert raw not in call.query
        assert "api_key" not in call.query.lower()


def assert_upstream_saw_only_team_key(upstream, raw, expected):
    """``expected``: [(path, parsed query)] the upstream should have received, in order."""
    seen = upstream.requests
    assert [(r["path"], sorted(parse_qsl(r["query"]))) for r in seen] == expected
    for request in seen:
        headers = request["headers"]  # names lower-cased by the simulator
        assert headers.get("x-cg-pro-api-key") == TEAM_KEY
        assert "x-cg-demo-api-key" not in headers
        assert not any(raw in value for value in headers.values())
        assert raw not in request["query"]
        assert "api_key" not in request["query"].lower()


def step_clear_of_minute_boundary(margin=2.0):
    """Sleep into the next minute if this one has less than ``margin`` seconds left."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def shift_clock_to_second(monkeypatch, second):
    """Run Tollgate's clock ahead so that it reads ``second`` of some minute right now.

    It keeps ticking in real time, so a client that honours Retry-After really waits.
    """
    real = windows.utc_now
    now = real()
    offset = timedelta(seconds=(second - now.second) % 60, microseconds=-now.microsecond)
    monkeypatch.setattr(windows, "utc_now", lambda: real() + offset)


def key_body(*, key_calls, plan_calls):
    return {
        **PLAN_FIELDS,
        "current_total_monthly_calls": plan_calls,
        "current_remaining_monthly_calls": PLAN_FIELDS["monthly_call_credit"] - plan_calls,
        "api_key_rate_limit_request_per_minute": PLAN_FIELDS["rate_limit_request_per_minute"],
        "api_key_monthly_call_credit": PLAN_FIELDS["monthly_call_credit"],
        "api_key_current_total_monthly_calls": key_calls,
    }


PRICE_QUERY = [("ids", "bitcoin"), ("vs_currencies", "usd")]
MARKETS_QUERY = [("vs_currency", "usd")]
MARKETS = "/api/v3/coins/markets"
OK, LIMITED = Outcome.OK, Outcome.RATE_LIMITED


# --- official SDK --------------------------------------------------------------------------


def test_sdk_calls_work_through_tollgate_and_key_reports_the_ledger(sdk, client_key, upstream):
    key, raw = client_key
    client = sdk(raw)

    assert client.ping.get().gecko_says == PING["gecko_says"]
    price = client.simple.price.get(ids="bitcoin", vs_currencies="usd")
    assert price["bitcoin"].usd == BTC_USD
    markets = client.coins.markets.get(vs_currency="usd")
    assert markets[0].id == "bitcoin"
    assert markets[0].current_price > 0
    usage = client.key.get()
    assert usage.model_dump() == key_body(key_calls=2, plan_calls=2)
    # /key itself is free: asking again shows the same count.
    assert client.key.get().api_key_current_total_monthly_calls == 2

    assert_upstream_saw_only_team_key(
        upstream, raw, [("/api/v3/simple/price", PRICE_QUERY), (MARKETS, MARKETS_QUERY)]
    )
    assert log_rows() == [
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 200, OK, 1),
        (key.pk, "GET", "/coins/markets", MARKETS_QUERY, 200, OK, 1),
        (key.pk, "GET", "/key", [], 200, OK, 0),
        (key.pk, "GET", "/key", [], 200, OK, 0),
    ]
    assert_raw_key_not_logged(raw)


def test_sdk_key_fields_follow_the_keys_own_limits(sdk, client_key, upstream):
    key, raw = client_key
    key_update(key=key, label=key.label, rate_limit=50, monthly_credits=300)
    client = sdk(raw)
    client.simple.price.get(ids="bitcoin", vs_currencies="usd")

    assert client.key.get().model_dump() == {
        **key_body(key_calls=1, plan_calls=1),
        "api_key_rate_limit_request_per_minute": 50,
        "api_key_monthly_call_credit": 300,
    }


def test_sdk_unknown_key_raises_authentication_error(sdk, tollgate, upstream):
    client = sdk(UNKNOWN_KEY)

    with pytest.raises(AuthenticationError) as caught:
        client.simple.price.get(ids="bitcoin", vs_currencies="usd")

    assert caught.value.status_code == 401
    assert caught.value.body["status"]["error_code"] == 10001
    assert upstream.requests == []
    # 401 is not retried: one attempt, counted without a key, no credit.
    assert log_rows() == [] and keyless_rows() == [("invalid_key", 1)]
    assert_raw_key_not_logged(UNKNOWN_KEY)


def test_sdk_over_the_rate_limit_raises_rate_limit_error(sdk, client_key, upstream):
    key, raw = client_key
    key_update(key=key, label=key.label, rate_limit=2, monthly_credits=None)
    client = sdk(raw, max_retries=0)
    step_clear_of_minute_boundary()

    client.ping.get()
    client.simple.price.get(ids="bitcoin", vs_currencies="usd")
    with pytest.raises(RateLimitError) as caught:
        client.simple.price.get(ids="bitcoin", vs_currencies="usd")

    error = caught.value
    assert error.status_code == 429
    assert error.body["status"]["error_code"] == 429
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert error.response.headers["x-ratelimit-limit"] == "2"
    assert error.response.headers["x-ratelimit-remaining"] == "0"
    assert_upstream_saw_only_team_key(upstream, raw, [("/api/v3/simple/price", PRICE_QUERY)])
    assert log_rows() == [
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 200, OK, 1),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 429, LIMITED, 0),
    ]
    assert_raw_key_not_logged(raw)


def test_sdk_retries_a_429_only_after_tollgates_retry_after(sdk, client_key, upstream, monkeypatch):
    """The SDK sleeps exactly Retry-After (when 0 < it <= 60 s) and then succeeds.

    Tollgate's Retry-After is the time to the next calendar minute, so the retry must land
    in the next minute's window. Starting at second 56 keeps the SDK's own wait short.
    """
    key, raw = client_key
    key_update(key=key, label=key.label, rate_limit=2, monthly_credits=None)
    exchanges = []  # (monotonic time, "request" | status, retry-after)

    def on_request(request):
        exchanges.append((time.monotonic(), "request", None))

    def on_response(response):
        exchanges.append(
            (time.monotonic(), response.status_code, response.headers.get("retry-after"))
        )

    http_client = DefaultHttpxClient(
        event_hooks={"request": [on_request], "response": [on_response]}
    )
    client = sdk(raw, max_retries=2, http_client=http_client)

    shift_clock_to_second(monkeypatch, 56)
    client.ping.get()
    client.ping.get()
    started = time.monotonic()
    price = client.simple.price.get(ids="bitcoin", vs_currencies="usd")
    elapsed = time.monotonic() - started

    assert price["bitcoin"].usd == BTC_USD
    # ping, ping, then price: 429, one retry after the wait, 200.
    kinds = [kind for _, kind, _ in exchanges]
    assert kinds == ["request", 200] * 2 + ["request", 429] + ["request", 200]
    limited_at, _, retry_after = exchanges[5]
    retried_at = exchanges[6][0]
    assert retry_after is not None and 1 <= int(retry_after) <= 5
    assert retried_at - limited_at >= int(retry_after) - 0.05  # waited what the header allows
    assert elapsed >= int(retry_after) - 0.05
    assert elapsed < int(retry_after) + 3  # and not the SDK's backoff on top of it

    rows = list(Call.objects.order_by("id"))
    assert log_rows() == [
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 429, LIMITED, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 200, OK, 1),
    ]
    refused, admitted = rows[2], rows[3]
    # The header Tollgate sent is what its clock said was left of the refused call's minute,
    # and the retry that the SDK timed by it was admitted in the next minute.
    left = (windows.next_minute(refused.at) - refused.at).total_seconds()
    assert int(retry_after) == max(1, math.ceil(left))
    assert windows.minute_index(admitted.at) == windows.minute_index(refused.at) + 1
    assert_upstream_saw_only_team_key(upstream, raw, [("/api/v3/simple/price", PRICE_QUERY)])
    assert_raw_key_not_logged(raw)


# --- pycoingecko ---------------------------------------------------------------------------


def test_pycoingecko_sends_the_key_as_a_pro_query_parameter():
    raw = "tg_" + "a" * 40
    cg = CoinGeckoAPI(api_key=raw)
    # A key switches it to the Pro root and adds the key to every call's query string:
    # overriding api_base_url keeps the key parameter, which Tollgate accepts.
    assert cg.api_base_url == "https://pro-api.coingecko.com/api/v3/"
    assert cg.extra_params == {"x_cg_pro_api_key": raw}


def test_pycoingecko_calls_work_through_tollgate_and_key_reports_the_ledger(
    gecko, client_key, upstream
):
    key, raw = client_key
    cg = gecko(raw)

    assert cg.ping() == PING
    assert cg.get_price(ids="bitcoin", vs_currencies="usd")["bitcoin"]["usd"] == BTC_USD
    markets = cg.get_coins_markets(vs_currency="usd")
    assert markets[0]["id"] == "bitcoin"
    assert cg.key() == key_body(key_calls=2, plan_calls=2)

    assert_upstream_saw_only_team_key(
        upstream, raw, [("/api/v3/simple/price", PRICE_QUERY), (MARKETS, MARKETS_QUERY)]
    )
    assert log_rows() == [
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 200, OK, 1),
        (key.pk, "GET", "/coins/markets", MARKETS_QUERY, 200, OK, 1),
        (key.pk, "GET", "/key", [], 200, OK, 0),
    ]
    assert_raw_key_not_logged(raw)


def test_pycoingecko_unknown_key_raises_value_error_with_coingeckos_shape(gecko, upstream):
    cg = gecko(UNKNOWN_KEY)

    with pytest.raises(ValueError) as caught:
        cg.get_price(ids="bitcoin", vs_currencies="usd")

    (body,) = caught.value.args
    assert set(body) == {"status"}
    assert set(body["status"]) == {"timestamp", "error_code", "error_message"}
    assert body["status"]["error_code"] == 10001
    assert upstream.requests == []
    assert log_rows() == [] and keyless_rows() == [("invalid_key", 1)]
    assert_raw_key_not_logged(UNKNOWN_KEY)


def test_pycoingecko_without_a_key_raises_value_error_key_missing(gecko, upstream):
    cg = gecko()

    with pytest.raises(ValueError) as caught:
        cg.ping()

    assert caught.value.args[0]["status"]["error_code"] == 10002
    assert upstream.requests == []
    assert log_rows() == [] and keyless_rows() == [("missing_key", 1)]


def test_pycoingecko_over_the_rate_limit_raises_value_error_429(gecko, client_key, upstream):
    key, raw = client_key
    key_update(key=key, label=key.label, rate_limit=2, monthly_credits=None)
    cg = gecko(raw)
    step_clear_of_minute_boundary()

    cg.ping()
    cg.get_price(ids="bitcoin", vs_currencies="usd")
    with pytest.raises(ValueError) as caught:
        cg.get_price(ids="bitcoin", vs_currencies="usd")

    assert caught.value.args[0]["status"]["error_code"] == 429
    assert_upstream_saw_only_team_key(upstream, raw, [("/api/v3/simple/price", PRICE_QUERY)])
    assert log_rows() == [
        (key.pk, "GET", "/ping", [], 200, OK, 0),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 200, OK, 1),
        (key.pk, "GET", "/simple/price", PRICE_QUERY, 429, LIMITED, 0),
    ]
    assert_raw_key_not_logged(raw)

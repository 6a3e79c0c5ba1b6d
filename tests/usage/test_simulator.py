"""The simulated CoinGecko upstream that the proxy's tests and benchmarks stand on.

If it drifted from the reference bodies or dropped requests silently, every proxy test
built on it would pass or fail for the wrong reason.
"""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.simulator import SimulatedUpstream

KEY = "team-upstream-key"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream():
    with SimulatedUpstream() as sim:
        yield sim


@pytest.fixture
def keyed():
    with SimulatedUpstream(api_key=KEY) as sim:
        yield sim


def get(sim, path, **kwargs):
    return requests.get(sim.url + path, timeout=10, **kwargs)


def test_ping_body_is_exactly_coingeckos(upstream):
    response = get(upstream, "/ping")
    assert response.status_code == 200
    assert response.content == b'{"gecko_says":"(V3) To the Moon!"}'
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_key_has_the_eight_fields(upstream):
    body = get(upstream, "/key").json()
    assert set(body) == {
        "plan",
        "rate_limit_request_per_minute",
        "monthly_call_credit",
        "current_total_monthly_calls",
        "current_remaining_monthly_calls",
        "api_key_rate_limit_request_per_minute",
        "api_key_monthly_call_credit",
        "api_key_current_total_monthly_calls",
    }


def test_data_endpoints_answer_realistic_json(upstream):
    price = get(upstream, "/simple/price", params={"ids": "bitcoin", "vs_currencies": "usd"})
    assert price.json()["bitcoin"]["usd"] == 67187.3358936566
    markets = get(upstream, "/coins/markets", params={"vs_currency": "usd"}).json()
    assert isinstance(markets, list) and markets[0]["id"] == "bitcoin"
    coin = get(upstream, "/coins/bitcoin").json()
    assert (coin["id"], coin["symbol"], coin["name"]) == ("bitcoin", "btc", "Bitcoin")
    assert coin["market_data"]["current_price"]["usd"] > 0
    chart = get(upstream, "/coins/bitcoin/market_chart", params={"days": 1}).json()
    assert set(chart) == {"prices", "market_caps", "total_volumes"}
    assert get(upstream, "/search", params={"query": "eth"}).json()["coins"][0]["id"] == (
        "ethereum"
    )
    assert "volume_change_percentage_24h_usd" in get(upstream, "/global").json()["data"]


def test_unknown_paths_are_json_404s(upstream):
    response = get(upstream, "/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    assert get(upstream, "/coins/not-a-coin").json() == {"error": "coin not found"}
    assert requests.get(upstream.base_url + "/elsewhere", timeout=10).status_code == 404


def test_any_method_reaches_the_data_endpoints(upstream):
    assert requests.post(upstream.url + "/ping", data=b"{}", timeout=10).json() == {
        "gecko_says": "(V3) To the Moon!"
    }
    head = requests.head(upstream.url + "/ping", timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "34"
    assert head.content == b""


def test_a_configured_key_is_required(keyed):
    missing = get(keyed, "/ping")
    assert missing.status_code == 401
    assert missing.json()["status"]["error_code"] == 10002
    assert missing.json()["status"]["error_message"].startswith("API Key Missing")

    wrong = get(keyed, "/ping", headers={"x-cg-pro-api-key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["status"]["error_code"] == 10002

    assert get(keyed, "/ping", headers={"x-cg-pro-api-key": KEY}).status_code == 200
    assert get(keyed, "/ping", params={"x_cg_pro_api_key": KEY}).status_code == 200


def test_without_a_configured_key_anything_passes(upstream):
    assert get(upstream, "/ping", headers={"x-cg-pro-api-key": "whatever"}).status_code == 200


def test_requests_are_recorded_with_headers_query_and_body(keyed):
    get(
        keyed,
        "/simple/price?ids=bitcoin&vs_currencies=usd",
        headers={"X-CG-Pro-API-Key": KEY, "X-Trace": "t1"},
    )
    requests.post(
        keyed.url + "/ping", headers={"x-cg-pro-api-key": KEY}, data=b"a" * 3000, timeout=10
    )

    first, second = keyed.requests
    assert (first["method"], first["path"]) == ("GET", "/api/v3/simple/price")
    assert first["query"] == "ids=bitcoin&vs_currencies=usd"
    assert first["headers"]["x-cg-pro-api-key"] == KEY
    assert first["headers"]["x-trace"] == "t1"
    assert second["method"] == "POST"
    assert second["body_length"] == 3000
    assert second["body"] == b"a" * 1024

    over_http = requests.get(keyed.base_url + "/__sim/requests", timeout=10).json()
    assert over_http[0]["headers"]["x-cg-pro-api-key"] == KEY
    assert over_http[1]["body"] == "a" * 1024
    assert requests.get(keyed.base_url + "/__sim/stats", timeout=10).json() == {"count": 2}


def test_fail_next_answers_the_given_statuses_in_order(upstream):
    upstream.configure(fail_next=[429, 503])
    limited = get(upstream, "/ping")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "5"
    assert limited.json()["status"]["error_code"] == 429
    unavailable = get(upstream, "/ping")
    assert unavailable.status_code == 503
    assert unavailable.json()["status"]["error_code"] == 503
    assert get(upstream, "/ping").status_code == 200


def test_rate_limit_every_nth_request():
    with SimulatedUpstream(rate_limit_every=3) as sim:
        statuses = [get(sim, "/ping").status_code for _ in range(7)]
    assert statuses == [200, 200, 429, 200, 200, 429, 200]


def test_delay_is_added_to_each_answer():
    with SimulatedUpstream(delay=0.2) as sim:
        started = time.monotonic()
        assert get(sim, "/ping").status_code == 200
        assert time.monotonic() - started >= 0.2


def test_error_rate_one_always_fails_with_error_status():
    with SimulatedUpstream(error_rate=1, error_status=502) as sim:
        responses = [get(sim, "/ping") for _ in range(5)]
    assert {r.status_code for r in responses} == {502}
    assert responses[0].json()["status"]["error_code"] == 502


def test_switches_change_at_runtime_over_http(keyed):
    control = keyed.base_url + "/__sim/config"
    changed = requests.post(control, json={"fail_next": [500], "delay": 0}, timeout=10)
    assert changed.status_code == 200
    assert changed.json()["fail_next"] == [500]
    assert requests.get(control, timeout=10).json()["fail_next"] == [500]
    assert get(keyed, "/ping", headers={"x-cg-pro-api-key": KEY}).status_code == 500

    bad = requests.post(control, json={"error_rate": 2}, timeout=10)
    assert bad.status_code == 400
    assert requests.post(control, json={"nonsense": 1}, timeout=10).status_code == 400

    requests.post(control, json={"error_rate": 1, "error_status": 418}, timeout=10)
    assert get(keyed, "/ping", headers={"x-cg-pro-api-key": KEY}).status_code == 418
    assert requests.post(keyed.base_url + "/__sim/reset", timeout=10).status_code == 200
    assert keyed.requests == []
    assert keyed.config["error_rate"] == 0
    assert get(keyed, "/ping", headers={"x-cg-pro-api-key": KEY}).status_code == 200


def test_bad_switches_are_refused_in_python(upstream):
    with pytest.raises(ValueError):
        upstream.configure(fail_next=[200])
    with pytest.raises(ValueError):
        SimulatedUpstream(delay=-1)


def test_large_body_arrives_complete():
    size = 5 * 1024 * 1024
    with SimulatedUpstream() as sim:
        response = get(sim, "/__sim/large", params={"bytes": size}, stream=True)
        assert int(response.headers["Content-Length"]) == size
        body = b"".join(response.iter_content(256 * 1024))
    assert len(body) == size
    assert len(json.loads(body)["filler"]) == size - len(b'{"filler":""}')


def test_keep_alive_serves_many_calls_on_one_connection(upstream):
    with requests.Session() as session:
        for _ in range(50):
            response = session.get(upstream.url + "/simple/price", timeout=10)
            assert response.status_code == 200
    assert upstream.count == 50
    assert len({record["client"] for record in upstream.requests}) == 1


def test_stop_closes_the_port():
    sim = SimulatedUpstream().start()
    url = sim.url
    with requests.Session() as session:
        session.get(url + "/ping", timeout=10)  # an idle keep-alive connection must not block
        sim.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/ping", timeout=2)


def test_command_line_prints_its_url_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.simulator", "--port", "0", "--api-key", KEY],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        match = re.fullmatch(
            r"simulated CoinGecko upstream on (http://127\.0\.0\.1:(\d+)/api/v3)", line
        )
        assert match, line
        assert int(match.group(2)) > 0
        response = requests.get(
            match.group(1) + "/ping", headers={"x-cg-pro-api-key": KEY}, timeout=10
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

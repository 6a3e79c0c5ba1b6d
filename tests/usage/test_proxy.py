"""The proxy as a client sees it: authentication, forwarding, errors and the usage log."""

import json

import pytest

from keys.services import key_create, key_delete
from tests.support import TEAM_KEY
from usage.models import NO_KEY_REF, PLAN_REF, Call, HourUsage, KeylessCalls, MonthUsage

pytestmark = pytest.mark.django_db

PRICE = "/simple/price"


def error(response):
    body = json.loads(response.content)
    return response.status_code, body["status"]["error_code"]


class TestAuthentication:
    @pytest.mark.parametrize("header", ["HTTP_X_CG_PRO_API_KEY", "HTTP_X_CG_DEMO_API_KEY"])
    def test_the_key_is_read_from_either_header(self, client, api, header):
        response = client.get(f"/api/v3{PRICE}", {"ids": "bitcoin"}, **{header: api.raw})
        assert response.status_code == 200

    @pytest.mark.parametrize("param", ["x_cg_pro_api_key", "x_cg_demo_api_key"])
    def test_the_key_is_read_from_either_query_parameter(self, client, api, param):
        response = client.get(f"/api/v3{PRICE}", {"ids": "bitcoin", param: api.raw})
        assert response.status_code == 200

    def test_a_missing_key_is_401_10002_and_is_counted_without_a_key(self, client, upstream):
        response = client.get(f"/api/v3{PRICE}", {"ids": "bitcoin"}, REMOTE_ADDR="192.0.2.7")
        assert error(response) == (401, 10002)
        assert response["Content-Type"] == "application/json"
        assert upstream.requests == []
        assert not Call.objects.exists()
        row = KeylessCalls.objects.get()
        assert (row.address, row.outcome, row.calls) == ("192.0.2.7", "missing_key", 1)

    @pytest.mark.parametrize("raw_key", ["tg_" + "x" * 40, "nonsense", "CG-realcoingeckokey"])
    def test_an_unknown_key_is_401(self, api, upstream, raw_key):
        response = api.get(PRICE, raw_key=raw_key)
        assert error(response) == (401, 10001)
        assert upstream.requests == []
        assert KeylessCalls.objects.get().outcome == "invalid_key"

    def test_a_deleted_key_is_refused(self, api, upstream):
        key_delete(key=api.key)
        assert error(api.get(PRICE)) == (401, 10001)
        assert upstream.requests == []


class TestForwarding:
    def test_the_team_key_goes_upstream_and_the_clients_key_does_not(self, api, upstream):
        api.get(PRICE, ids="bitcoin", vs_currencies="usd")
        api.get(PRICE, via="query", ids="bitcoin", vs_currencies="usd")
        assert len(upstream.requests) == 2
        for seen in upstream.requests:
            assert seen["headers"]["x-cg-pro-api-key"] == TEAM_KEY
            assert api.raw not in json.dumps(seen["headers"])
            assert api.raw not in seen["query"]
            assert seen["query"] == "ids=bitcoin&vs_currencies=usd"
            assert seen["path"] == "/api/v3/simple/price"

    def test_the_answer_comes_back_as_the_upstream_gave_it(self, api, upstream):
        response = api.get(PRICE, ids="bitcoin", vs_currencies="usd")
        assert response.status_code == 200
        assert json.loads(response.content)["bitcoin"]["usd"] == 67187.3358936566
        assert response["Content-Type"].startswith("application/json")

    def test_path_and_order_of_parameters_are_kept(self, api, upstream):
        api.get("/coins/bitcoin/market_chart", vs_currency="usd", days="1")
        seen = upstream.requests[-1]
        assert seen["path"] == "/api/v3/coins/bitcoin/market_chart"
        assert seen["query"] == "vs_currency=usd&days=1"

    def test_accept_headers_go_upstream_and_cookies_do_not(self, client, api, upstream):
        client.get(
            "/api/v3/search",
            {"query": "eth"},
            HTTP_X_CG_PRO_API_KEY=api.raw,
            HTTP_ACCEPT="application/json",
            HTTP_COOKIE="sessionid=not-for-upstream",
        )
        seen = upstream.requests[-1]
        assert seen["method"] == "GET"
        assert seen["headers"]["accept"] == "application/json"
        assert "cookie" not in seen["headers"]

    def test_upstream_errors_pass_through_and_cost_nothing(self, api, upstream):
        upstream.configure(fail_next=[503])
        response = api.get(PRICE, ids="bitcoin")
        assert response.status_code == 503
        row = Call.objects.get()
        assert (row.outcome, row.status, row.credits) == ("upstream_error", 503, 0)
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 0

    def test_a_large_body_streams_through_whole(self, api, upstream):
        size = 5 * 1024 * 1024 + 123
        response = api.get("/__sim/large", bytes=str(size))
        assert response.status_code == 200 and response.streaming
        assert response["Content-Length"] == str(size)
        body = b"".join(response.streaming_content)  # the test client closes it at the end
        assert len(body) == size
        row = Call.objects.get()
        assert row.bytes == size
        assert HourUsage.objects.get(key_ref=api.key.pk).bytes == size


class TestLocalEndpoints:
    def test_ping_is_answered_here_and_costs_no_credit(self, api, upstream):
        response = api.get("/ping")
        assert response.content == b'{"gecko_says":"(V3) To the Moon!"}'
        assert upstream.requests == []
        assert Call.objects.get().credits == 0

    def test_key_reports_the_ledger(self, api, upstream, plan, owner):
        for _ in range(3):
            api.get(PRICE, ids="bitcoin")
        other, other_raw = key_create(owner=owner, label="other")
        api.get(PRICE, raw_key=other_raw, ids="bitcoin")
        upstream.configure(fail_next=[500])
        api.get(PRICE, ids="bitcoin")  # not 2xx: no credit
        body = json.loads(api.get("/key").content)
        assert body == {
            "plan": "Analyst",
            "rate_limit_request_per_minute": 100,
            "monthly_call_credit": 1000,
            "current_total_monthly_calls": 4,
            "current_remaining_monthly_calls": 996,
            "api_key_rate_limit_request_per_minute": 100,
            "api_key_monthly_call_credit": 1000,
            "api_key_current_total_monthly_calls": 3,
        }
        assert upstream.requests[-1]["path"] != "/api/v3/key"


class TestBadInput:
    @pytest.mark.parametrize(
        "path",
        [
            "/../admin/",
            "/coins/../../secret",
            "/coins/./bitcoin",
            "//evil.example/api",
            "/http://evil.example/x",
            "/coins%5cbitcoin",
            "/coins/bit coin",
            "/",
        ],
    )
    def test_paths_that_could_leave_the_upstream_are_400(self, client, api, upstream, path):
        response = client.get(f"/api/v3{path}", HTTP_X_CG_PRO_API_KEY=api.raw)
        assert error(response) == (400, 400)
        assert upstream.requests == []
        assert Call.objects.get().outcome == "bad_request"

    def test_the_bare_root_is_a_json_400(self, client, api, upstream):
        response = client.get("/api/v3", HTTP_X_CG_PRO_API_KEY=api.raw)
        assert error(response) == (400, 400)

    def test_a_raw_query_with_spaces_and_quotes_is_encoded_not_refused(self, client, api, upstream):
        response = client.get(
            "/api/v3/search",
            HTTP_X_CG_PRO_API_KEY=api.raw,
            QUERY_STRING='query=wrapped "bitcoin" \xc3\xa9',
        )
        assert response.status_code == 200
        assert upstream.requests[-1]["query"] == "query=wrapped%20%22bitcoin%22%20%C3%A9"

    def test_an_encoded_slash_in_the_raw_request_line_is_400(self, client, api, upstream):
        response = client.get(
            "/api/v3/coins/bitcoin",
            HTTP_X_CG_PRO_API_KEY=api.raw,
            RAW_URI="/api/v3/coins%2F..%2F..%2Fadmin",
        )
        assert error(response) == (400, 400)
        assert upstream.requests == []

    def test_an_unreachable_upstream_is_502_and_the_credit_goes_back(self, api, settings):
        settings.UPSTREAM_URL = "http://127.0.0.1:9/api/v3"  # discard port: nothing listens
        assert error(api.get(PRICE)) == (502, 502)
        row = Call.objects.get()
        assert (row.outcome, row.credits) == ("upstream_unreachable", 0)
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 0

    def test_a_slow_upstream_is_504(self, api, upstream, settings):
        settings.UPSTREAM_TIMEOUT = 0.2
        upstream.configure(delay=1.0)
        assert error(api.get(PRICE)) == (504, 504)
        assert Call.objects.get().outcome == "upstream_timeout"
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 0

    def test_refusals_are_json_never_html(self, client, api):
        for response in (
            client.get("/api/v3/coins/bitcoin"),
            client.get("/api/v3/../x", HTTP_X_CG_PRO_API_KEY=api.raw),
            client.get("/api/v3/x", HTTP_X_CG_PRO_API_KEY="bad", HTTP_HOST="not-allowed.example"),
        ):
            assert response["Content-Type"] == "application/json"
            assert b"<html" not in response.content


class TestUsageLog:
    def test_every_call_leaves_one_row_without_secrets(self, api, upstream):
        api.get(PRICE, via="query", ids="bitcoin", vs_currencies="usd")
        row = Call.objects.get()
        assert row.key == api.key
        assert (row.method, row.path, row.query) == (
            "GET",
            "/simple/price",
            "ids=bitcoin&vs_currencies=usd",
        )
        assert (row.status, row.outcome, row.credits, row.overage) == (200, "ok", 1, False)
        assert row.latency_ms is not None and row.latency_ms > 0
        assert row.bytes > 100
        every_value = json.dumps(list(Call.objects.values()), default=str)
        assert api.raw not in every_value and TEAM_KEY not in every_value

    def test_counters_move_with_the_rows(self, api, upstream):
        api.get(PRICE)
        api.get(PRICE)
        api.get("/ping")
        api.get(PRICE, raw_key="wrong")
        by_endpoint = {
            row.endpoint: (row.calls, row.credits)
            for row in HourUsage.objects.filter(key_ref=api.key.pk, outcome="ok")
        }
        assert by_endpoint == {"/simple/price": (2, 2), "/ping": (1, 0)}
        assert HourUsage.objects.get(key_ref=NO_KEY_REF, outcome="invalid_key").calls == 1
        assert MonthUsage.objects.get(key_ref=api.key.pk).credits_used == 2
        assert MonthUsage.objects.get(key_ref=PLAN_REF).credits_used == 2

    def test_calls_without_a_key_and_the_plan_have_distinct_refs(self, api, upstream):
        """The plan's counters and keyless calls' counters never share a key_ref: a keyless
        call is in the team's hour counters, never in the plan's month or minute figures."""
        assert NO_KEY_REF != PLAN_REF
        api.get(PRICE, raw_key="wrong")
        api.get(PRICE, raw_key="")
        assert not HourUsage.objects.filter(key_ref=PLAN_REF).exists()
        assert not MonthUsage.objects.exists()
        assert HourUsage.objects.filter(key_ref=NO_KEY_REF).count() == 2

    def test_last_used_moves(self, api, upstream):
        assert api.key.last_used_at is None
        api.get(PRICE)
        api.key.refresh_from_db()
        assert api.key.last_used_at == Call.objects.get().at

    def test_last_used_is_rewritten_at_most_once_a_second(self, api, upstream, clock):
        from datetime import UTC, datetime

        clock.set(datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC))
        api.get(PRICE)
        clock.advance(milliseconds=600)
        api.get(PRICE)
        api.key.refresh_from_db()
        assert api.key.last_used_at == datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
        clock.advance(milliseconds=600)  # 1.2 s after the first call
        api.get(PRICE)
        api.key.refresh_from_db()
        assert api.key.last_used_at == clock.now


class TestKeylessCalls:
    def test_a_flood_without_a_key_costs_a_row_per_address_and_minute(self, client, clock):
        for address in ("192.0.2.1", "192.0.2.1", "192.0.2.1", "198.51.100.9"):
            client.get(f"/api/v3{PRICE}", REMOTE_ADDR=address)
        client.get(f"/api/v3{PRICE}", REMOTE_ADDR="192.0.2.1", HTTP_X_CG_PRO_API_KEY="wrong")
        rows = KeylessCalls.objects.order_by("address", "outcome")
        assert [(r.address, r.outcome, r.calls) for r in rows] == [
            ("192.0.2.1", "invalid_key", 1),
            ("192.0.2.1", "missing_key", 3),
            ("198.51.100.9", "missing_key", 1),
        ]
        clock.advance(minutes=1)
        client.get(f"/api/v3{PRICE}", REMOTE_ADDR="192.0.2.1")
        assert KeylessCalls.objects.count() == 4  # a new minute, a new row
        assert not Call.objects.exists()

    def test_the_report_and_the_admin_say_how_many_and_from_where(
        self, client, staff_client, clock
    ):
        for address in ("192.0.2.1", "192.0.2.1", "198.51.100.9"):
            client.get(f"/api/v3{PRICE}", REMOTE_ADDR=address)
        report = staff_client.get("/usage/").content.decode()
        assert (
            "Refused without a valid key (missing, unknown or deleted): 3 requests from 2 addresses"
            in report
        )
        admin = staff_client.get("/admin/usage/keylesscalls/", follow=True).content.decode()
        assert "Refused without a valid key: 3 requests from 2 addresses this month." in admin
        assert "198.51.100.9" in admin

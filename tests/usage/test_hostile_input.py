"""Hostile or odd requests: they never reach the upstream with the team key, never leak a
client key into the upstream call or the usage log, and are answered in CoinGecko's shape."""

import json

import pytest
from django.contrib.auth import get_user_model

from tests.servers import TollgateServer, call
from usage.models import Call, MonthUsage

pytestmark = pytest.mark.django_db

PRICE = "/api/v3/simple/price"


def status_and_code(response):
    return response.status_code, json.loads(response.content)["status"]["error_code"]


class TestMethods:
    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options", "trace"])
    def test_only_get_and_head_reach_the_upstream(self, client, api, upstream, method):
        response = getattr(client, method)(PRICE, HTTP_X_CG_PRO_API_KEY=api.raw)
        assert status_and_code(response) == (405, 405)
        assert response["Allow"] == "GET, HEAD"
        assert upstream.requests == []
        row = Call.objects.get()
        assert (row.method, row.outcome, row.credits) == (method.upper(), "method_not_allowed", 0)
        assert not MonthUsage.objects.exists()

    def test_head_is_answered_like_get_without_a_body(self, client, api, upstream):
        got = client.get(PRICE, {"ids": "bitcoin"}, HTTP_X_CG_PRO_API_KEY=api.raw)
        head = client.head(PRICE, {"ids": "bitcoin"}, HTTP_X_CG_PRO_API_KEY=api.raw)
        assert head.status_code == 200 and head.content == b""
        assert head["Content-Length"] == str(len(got.content))
        assert head["Content-Type"] == got["Content-Type"]
        assert [seen["method"] for seen in upstream.requests] == ["GET", "GET"]
        assert [row.credits for row in Call.objects.order_by("id")] == [1, 1]

    def test_head_of_ping_has_no_body(self, client, api, upstream):
        response = client.head("/api/v3/ping", HTTP_X_CG_PRO_API_KEY=api.raw)
        assert response.status_code == 200 and response.content == b""
        assert response["Content-Length"] == str(len(b'{"gecko_says":"(V3) To the Moon!"}'))


# A key parameter as servers read it: any case, percent-encoded (once or twice), with "+"
# or spaces, behind ";" or "&".
SPELLINGS = [
    "x_cg_pro_api_key={key}",
    "X_CG_PRO_API_KEY={key}",
    "x%5Fcg%5Fpro%5Fapi%5Fkey={key}",
    "x%255Fcg%255Fpro%255Fapi%255Fkey={key}",
    "%78_cg_pro_api_key={key}",
    "x_cg_demo_api_key={key}",
    "x_cg_pro_api_key+={key}",
    "x-cg-pro-api-key={key}",
    "x_cg_pro_api_key={key_encoded}",
]


class TestKeyStripping:
    @pytest.mark.parametrize("spelling", SPELLINGS)
    @pytest.mark.parametrize("separator", ["&", ";"])
    def test_no_spelling_of_the_key_reaches_upstream_or_the_log(
        self, client, api, upstream, spelling, separator
    ):
        key_param = spelling.format(key=api.raw, key_encoded=api.raw.replace("_", "%5F"))
        query = f"ids=bitcoin{separator}{key_param}{separator}vs_currencies=usd"
        client.get(f"{PRICE}?{query}", HTTP_X_CG_PRO_API_KEY=api.raw)
        seen = upstream.requests[-1]
        assert api.raw not in seen["query"] and api.raw[3:] not in seen["query"]
        assert seen["query"] == f"ids=bitcoin{separator}vs_currencies=usd"
        stored = json.dumps(list(Call.objects.values()), default=str)
        assert api.raw[3:] not in stored

    @pytest.mark.parametrize("spelling", SPELLINGS[:5])
    def test_an_encoded_key_parameter_authenticates_too(self, client, api, upstream, spelling):
        key_param = spelling.format(key=api.raw, key_encoded=api.raw)
        response = client.get(f"{PRICE}?ids=bitcoin&{key_param}")
        assert response.status_code == 200
        assert upstream.requests[-1]["query"] == "ids=bitcoin"

    def test_the_key_under_another_name_is_dropped_too(self, client, api, upstream):
        client.get(f"{PRICE}?ids=bitcoin&token={api.raw}", HTTP_X_CG_PRO_API_KEY=api.raw)
        assert upstream.requests[-1]["query"] == "ids=bitcoin"
        assert api.raw not in Call.objects.get().query

    def test_other_parameters_keep_their_spelling(self, client, api, upstream):
        query = "ids=bitcoin%2Cethereum&vs_currencies=usd;eur&x=%7B%7D"
        client.get(f"{PRICE}?{query}", HTTP_X_CG_PRO_API_KEY=api.raw)
        assert upstream.requests[-1]["query"] == query


class TestSizes:
    def test_a_large_body_is_413_and_never_forwarded(self, client, api, upstream):
        response = client.generic(
            "GET", PRICE, data=b"x" * (10 * 1024 * 1024), HTTP_X_CG_PRO_API_KEY=api.raw
        )
        assert status_and_code(response) == (413, 413)
        assert upstream.requests == []
        assert Call.objects.get().outcome == "too_large"

    def test_a_long_ids_list_passes_through_the_real_server(self, upstream, tmp_path):
        """An 8 KB URL (a realistic ids= list) passes gunicorn's request-line limit."""
        server = TollgateServer("sqlite", "", tmp_path, upstream.url)
        try:
            raw = server.key("long urls")
            server.start()
            ids = ",".join(f"coin-number-{i:05d}" for i in range(447))
            path = f"{PRICE}?vs_currencies=usd&ids={ids}"
            assert 8000 < len(path) < 8190 - len("GET  HTTP/1.1")
            assert call(server.port, path, raw) == 200
            assert len(upstream.requests[-1]["query"]) > 8000
        finally:
            server.stop()


class TestDeactivatedOwner:
    def test_a_deactivated_members_keys_stop_at_once(self, client, api, upstream, owner):
        assert client.get(PRICE, HTTP_X_CG_PRO_API_KEY=api.raw).status_code == 200
        get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
        for path in (PRICE, "/api/v3/key", "/api/v3/ping"):
            response = client.get(path, HTTP_X_CG_PRO_API_KEY=api.raw)
            assert status_and_code(response) == (401, 10001)
            assert "deactivated" in json.loads(response.content)["status"]["error_message"]
        assert len(upstream.requests) == 1
        assert Call.objects.filter(outcome="invalid_key", key=api.key).count() == 3

"""/metrics: Prometheus' text format, read back with prometheus-client's own parser.

In-process tests hold what each figure means; the server tests run gunicorn's real worker
processes (multiprocess mode) and check that the figures add up whichever worker answers.
"""

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import TollgateServer, call
from usage.models import PLAN_REF, Alert, AlertDelivery, MonthUsage

pytestmark = pytest.mark.django_db
CALLS = "tollgate_proxy_calls"


def parse(text: str) -> dict:
    """{(sample name, frozenset of labels): value} for every sample."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


class TestFigures:
    def test_it_counts_calls_by_outcome_and_endpoint_template(self, api, client):
        before = scrape(client)
        for coin in ("bitcoin", "ethereum", "bitcoin"):
            assert api.get(f"/coins/{coin}").status_code == 200
        assert api.get("/simple/price", ids="bitcoin", vs_currencies="usd").status_code == 200
        assert api.get("/ping").status_code == 200
        assert api.get("/ping", raw_key="tg_" + "x" * 40).status_code == 401
        after = scrape(client)

        def grew(**labels):
            name = CALLS + "_total"
            return value(after, name, **labels) - value(before, name, **labels)

        # Ids become {id}: three coins, one label value.
        assert grew(outcome="ok", endpoint="/coins/{id}") == 3
        assert grew(outcome="ok", endpoint="/simple/price") == 1
        assert grew(outcome="ok", endpoint="/ping") == 1
        assert grew(outcome="invalid_key", endpoint="/ping") == 1
        assert not any("bitcoin" in dict(labels).get("endpoint", "") for _, labels in after)

    def test_made_up_paths_never_become_label_values(self, api, client):
        for word in ("aaa", "bbb", "ccc"):
            assert api.get(f"/{word}/markets/tickers/{word}").status_code == 404
        samples = scrape(client)
        endpoints = {dict(labels).get("endpoint") for name, labels in samples if CALLS in name}
        assert "/{id}/markets/tickers/{id}" not in endpoints
        assert value(samples, CALLS + "_total", outcome="upstream_error", endpoint="other") >= 3

    def test_it_measures_upstream_and_added_latency(self, api, client):
        before = scrape(client)
        for _ in range(4):
            assert api.get("/coins/bitcoin").status_code == 200
        assert api.get("/ping").status_code == 200  # answered here: no upstream latency
        after = scrape(client)
        upstream = "tollgate_upstream_latency_seconds_count"
        added = "tollgate_added_latency_seconds_count"
        assert value(after, upstream) - value(before, upstream) == 4
        assert value(after, added) - value(before, added) == 5
        assert value(after, "tollgate_upstream_latency_seconds_sum") > value(
            before, "tollgate_upstream_latency_seconds_sum"
        )
        inf = value(after, "tollgate_added_latency_seconds_bucket", le="+Inf")
        assert inf == value(after, added)

    def test_it_counts_how_the_response_cache_answered(self, api, client):
        from usage.plan.services import plan_update

        plan_update(source="test", cache_enabled=True)
        before = scrape(client)
        for _ in range(3):
            api.get("/simple/price", ids="bitcoin", vs_currencies="usd")
        after = scrape(client)
        name = "tollgate_cache_answers_total"
        assert value(after, name, result="miss") - value(before, name, result="miss") == 1
        assert value(after, name, result="hit") - value(before, name, result="hit") == 2

    def test_it_counts_rate_limit_refusals(self, api, client, plan):
        plan.rate_limit = 2
        plan.save()
        before = value(scrape(client), "tollgate_rate_limit_refusals_total")
        statuses = [api.get("/ping").status_code for _ in range(5)]
        assert statuses.count(429) == 3
        after = value(scrape(client), "tollgate_rate_limit_refusals_total")
        assert after - before == 3

    def test_it_reads_the_plans_credits_at_scrape_time(self, client, plan):
        month = datetime.now(UTC).date().replace(day=1)
        MonthUsage.objects.create(key_ref=PLAN_REF, month=month, credits_used=250)
        samples = scrape(client)
        assert value(samples, "tollgate_plan_monthly_credits") == 1000
        assert value(samples, "tollgate_plan_credits_used") == 250
        assert value(samples, "tollgate_plan_credits_remaining") == 750
        assert value(samples, "tollgate_database_up") == 1

    def test_it_counts_alert_deliveries_pending_and_failed(self, client):
        now = datetime.now(UTC)
        alert = Alert.objects.create(
            scope=0,
            month=now.date().replace(day=1),
            threshold=50,
            created_at=now,
            calls=5,
            credits=10,
            overage=False,
        )
        for target, state, attempts in [
            ("a@example.com", "pending", 0),
            ("b@example.com", "pending", 2),  # SMTP refused it twice: waiting for a retry
            ("c@example.com", "sent", 1),
        ]:
            AlertDelivery.objects.create(
                alert=alert,
                channel="email",
                target=target,
                state=state,
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=10),
            )
        samples = scrape(client)
        assert value(samples, "tollgate_alert_deliveries_pending") == 2
        assert value(samples, "tollgate_alert_deliveries_failed") == 1


class TestAccess:
    def test_without_a_token_it_answers_this_host_only(self, client, settings):
        settings.METRICS_TOKEN = ""
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
        refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
        assert refused.status_code == 403
        assert b"METRICS_TOKEN" in refused.content

    def test_a_request_relayed_by_a_proxy_on_this_host_is_refused(self, client, settings):
        settings.METRICS_TOKEN = ""
        relayed = client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
        )
        assert relayed.status_code == 403

    def test_with_a_token_it_wants_the_bearer(self, client, settings):
        settings.METRICS_TOKEN = "s3cret-metrics-token-for-prometheus"
        anonymous = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get(
            "/metrics", REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION="Bearer not-the-token"
        )
        assert wrong.status_code == 401
        right = client.get(
            "/metrics",
            REMOTE_ADDR="10.0.0.9",
            HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-for-prometheus",
        )
        assert right.status_code == 200
        assert b"s3cret" not in right.content


# --- Real worker processes ---------------------------------------------------------------


def http_get(port: int, path: str) -> tuple[int, str]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def per_process_calls(folder: Path) -> dict[str, float]:
    """Calls answered 2xx, counted by each worker process's own file (counter_<pid>.db)."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
        counts[path.stem] = sum(
            s.value
            for m in metrics
            if m.name == CALLS
            for s in m.samples
            if s.name == CALLS + "_total" and s.labels["outcome"] == "ok"
        )
    return counts


@pytest.fixture
def metrics_server(upstream, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    # Left over from a previous run: the server must start from zero, not add these.
    (folder / "counter_999999.db").write_bytes(b"\0" * 4096)
    instance = TollgateServer(
        "sqlite",
        "",
        tmp_path,
        upstream.url,
        WEB_WORKERS="3",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    instance.folder = folder
    instance.raw = instance.key("metrics")
    yield instance
    instance.stop()


def test_the_figures_add_up_across_worker_processes(metrics_server):
    server = metrics_server
    server.start()
    assert not (server.folder / "counter_999999.db").exists()
    sent = 240
    paths = ["/api/v3/coins/bitcoin", "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"]
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(
            pool.map(lambda i: call(server.port, paths[i % 2], server.raw), range(sent))
        )
    assert statuses == [200] * sent
    processes = per_process_calls(server.folder)
    assert sum(processes.values()) == sent
    assert sum(1 for n in processes.values() if n) >= 2, processes  # several workers served

    # Whichever worker answers the scrape, it reports the server's totals.
    for _ in range(6):
        status, text = http_get(server.port, "/metrics")
        assert status == 200
        samples = parse(text)
        assert value(samples, CALLS + "_total", outcome="ok", endpoint="/coins/{id}") == sent / 2
        assert value(samples, CALLS + "_total", outcome="ok", endpoint="/simple/price") == sent / 2
        assert value(samples, "tollgate_upstream_latency_seconds_count") == sent
        assert value(samples, "tollgate_plan_credits_used") == sent


def test_a_workers_counts_outlive_the_worker(metrics_server):
    """gunicorn replaces a worker that died; what it counted is still in the totals."""
    import os

    server = metrics_server
    server.start()
    for _ in range(30):
        assert call(server.port, "/api/v3/coins/bitcoin", server.raw) == 200
    served = [stem for stem, n in per_process_calls(server.folder).items() if n]
    for stem in served:
        os.kill(int(stem.rsplit("_", 1)[1]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, text = http_get(server.port, "/metrics")
        except OSError:
            status = 0
        if status == 200:
            break
        time.sleep(0.2)
    assert value(parse(text), CALLS + "_total", outcome="ok", endpoint="/coins/{id}") == 30
    assert call(server.port, "/api/v3/coins/bitcoin", server.raw) == 200
    _, text = http_get(server.port, "/metrics")
    assert value(parse(text), CALLS + "_total", outcome="ok", endpoint="/coins/{id}") == 31

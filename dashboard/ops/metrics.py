"""``GET /metrics``: Prometheus' text format, for the whole server and the plan.

The proxy's counters and histograms come from every worker process at once
(prometheus-client's multiprocess mode, usage/metering/metrics.py). The plan's credits
and the alert queue are read from the database here, at scrape time, so the hot path
never computes them: two small queries per scrape.

Who may scrape: with ``METRICS_TOKEN`` set, whoever sends ``Authorization: Bearer
<token>``; without it, only a direct connection from this host (the loopback address and
no forwarding header, so a request relayed by a proxy on the same host is refused).
"""

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from usage.metering import windows

logger = logging.getLogger(__name__)

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def metrics(request) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(_PlanAndAlerts())
    return HttpResponse(generate_latest(registry), content_type=_CONTENT_TYPE)


# The classic text format (0.0.4): what every Prometheus version reads.
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _refusal(request) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token):
            return None
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tollgate-metrics"'
        return response
    if _from_this_host(request):
        return None
    return HttpResponse(
        "/metrics answers only to this host; set METRICS_TOKEN to scrape it from elsewhere\n",
        status=403,
    )


def _from_this_host(request) -> bool:
    if any(header in request.META for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class _ThisProcess(Collector):
    """This process's own figures (no multiprocess directory: tests, runserver)."""

    def collect(self):
        yield from REGISTRY.collect()


class _PlanAndAlerts(Collector):
    """The plan's credits this month and the alert queue, read at scrape time."""

    def collect(self):
        from usage.metering.access import authenticate
        from usage.models import PLAN_REF, AlertDelivery, MonthUsage

        try:
            _key, plan = authenticate("")
            month = windows.month_start(windows.utc_now())
            row = MonthUsage.objects.filter(key_ref=PLAN_REF, month=month).first()
            waiting = AlertDelivery.objects.exclude(state=AlertDelivery.State.SENT).aggregate(
                pending=Count("pk"), failed=Count("pk", filter=Q(attempts__gt=0))
            )
        except DatabaseError as exc:
            logger.warning("metrics: the database did not answer: %s", type(exc).__name__)
            yield GaugeMetricFamily(
                "tollgate_database_up", "Whether the scrape could read the database", value=0
            )
            return
        used, overage = (row.credits_used, row.overage_calls) if row else (0, 0)
        yield GaugeMetricFamily(
            "tollgate_database_up", "Whether the scrape could read the database", value=1
        )
        yield GaugeMetricFamily(
            "tollgate_plan_monthly_credits",
            "The plan's monthly call credits",
            value=plan.monthly_credits,
        )
        yield GaugeMetricFamily(
            "tollgate_plan_credits_used",
            "Credits used this UTC month (including calls in flight)",
            value=used,
        )
        yield GaugeMetricFamily(
            "tollgate_plan_credits_remaining",
            "Credits left this UTC month",
            value=max(0, plan.monthly_credits - used),
        )
        yield GaugeMetricFamily(
            "tollgate_plan_overage_calls",
            "Calls past the credits this UTC month (overage on)",
            value=overage,
        )
        yield GaugeMetricFamily(
            "tollgate_alert_deliveries_pending",
            "Alert emails and webhook posts not sent yet",
            value=waiting["pending"],
        )
        yield GaugeMetricFamily(
            "tollgate_alert_deliveries_failed",
            "Alert deliveries not sent yet that failed at least once (being retried)",
            value=waiting["failed"],
        )

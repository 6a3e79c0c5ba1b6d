"""The proxy's Prometheus instruments, moved once per finished call by ``observe_call``.

Under gunicorn the figures are kept in prometheus-client's multiprocess mode: each worker
writes its counters to memory-mapped files in PROMETHEUS_MULTIPROC_DIR (set and cleaned by
dashboard/gunicorn_conf.py) and /metrics adds them up, so the totals are the server's,
whichever worker answers the scrape. Without that variable (tests, ``runserver``) they
are this process's own.

The cost on the hot path is a few dictionary lookups and locked memory writes, no system
call and no database: the credits and alert figures are read at scrape time instead
(dashboard/ops/metrics.py).
"""

import threading

from prometheus_client import Counter, Histogram

from usage.metering import windows
from usage.models import Outcome
from usage.proxy.endpoints import endpoint_name

CALLS = Counter(
    "tollgate_proxy_calls",
    "Calls under /api/v3/ by outcome and endpoint template (endpoints never seen answered "
    "with 2xx by this worker count as 'other')",
    ["outcome", "endpoint"],
)
RATE_LIMITED = Counter(
    "tollgate_rate_limit_refusals", "Calls refused with 429 by the per-minute limits"
)
CACHE = Counter(
    "tollgate_cache_answers",
    "Calls through the response cache by how they were answered: hit, coalesced (another "
    "call's answer), stale (a copy while the upstream failed), miss (went upstream)",
    ["result"],
)
# CoinGecko answers in tens to hundreds of milliseconds; UPSTREAM_TIMEOUT is 10 s.
UPSTREAM_LATENCY = Histogram(
    "tollgate_upstream_latency_seconds",
    "Time from sending a call upstream to its answer's first MiB (forwarded calls only)",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# What Tollgate adds: authentication, limits, credits and the usage row, before and after.
ADDED_LATENCY = Histogram(
    "tollgate_added_latency_seconds",
    "Time Tollgate spends on a call besides waiting for the upstream",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)

# A label per distinct endpoint template would let any client with a key (or none) mint
# label values with made-up paths. Only templates the upstream (or Tollgate, for /ping
# and /key) answered with 2xx become labels: that set is CoinGecko's real endpoints.
MAX_ENDPOINTS = 200
_WAITED_IN_VAIN = frozenset({Outcome.UPSTREAM_TIMEOUT, Outcome.UPSTREAM_UNREACHABLE})
OTHER = "other"
_endpoints: set[str] = set()
_endpoints_lock = threading.Lock()


def endpoint_label(path: str, outcome: str) -> str:
    name = endpoint_name(path)
    if name in _endpoints:
        return name
    if outcome != Outcome.OK or len(_endpoints) >= MAX_ENDPOINTS:
        return OTHER
    with _endpoints_lock:
        _endpoints.add(name)
    return name


def observe_call(call) -> None:
    """Count a finished call (a ``ledger.CallRecord`` whose row is committed)."""
    CALLS.labels(call.outcome, endpoint_label(call.path, call.outcome)).inc()
    if call.outcome == Outcome.RATE_LIMITED:
        RATE_LIMITED.inc()
    if call.outcome in _WAITED_IN_VAIN:
        return  # its time went to an upstream that never answered: not Tollgate's to add
    upstream = (call.latency_ms or 0.0) / 1000
    if call.latency_ms is not None:
        UPSTREAM_LATENCY.observe(upstream)
    ADDED_LATENCY.observe(max(0.0, windows.monotonic() - call.started - upstream))


def observe_cache(result: str) -> None:
    """Count a call the response cache handled (``x-tollgate-cache``'s value)."""
    CACHE.labels(result).inc()

"""Liveness and readiness, cheap enough to poll every second.

``/healthz`` answers from the process alone: if it answers, the worker is up. ``/readyz``
asks what a call needs: the database, Redis when configured, and the alert sender's
heartbeat when this host is expected to run one. A failure says which check failed and
the kind of error, never its message (a database error can carry a host or user name).
"""

import functools
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse

from usage.alerts import heartbeat

logger = logging.getLogger(__name__)

_last_failures: frozenset = frozenset()


def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    checks = {
        "database": _database(),
        "redis": _redis(),
        "alert_sender": _alert_sender(),
    }
    failed = frozenset(name for name, result in checks.items() if not _passed(result))
    _log_change(failed, checks)
    body = {"status": "unavailable" if failed else "ok", "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)


def _passed(result: str) -> bool:
    return result in ("ok", "not configured", "not expected")


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"unavailable ({type(exc).__name__})"
    return "ok"


@functools.cache
def _redis_client(url: str, timeout: float):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One try with the limiter's short timeouts: a silent Redis costs the probe REDIS_TIMEOUT.
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def _redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    try:
        _redis_client(settings.REDIS_URL, settings.REDIS_TIMEOUT).ping()
    except (redis.RedisError, OSError) as exc:
        return f"unavailable ({type(exc).__name__})"
    return "ok"


def _alert_sender() -> str:
    if not settings.SENDALERTS_EXPECTED:
        return "not expected"
    age = heartbeat.age()
    if age is None:
        return "no heartbeat yet"
    if age > heartbeat.MAX_AGE:
        return f"silent for {int(age)} s"
    return "ok"


def _log_change(failed: frozenset, checks: dict) -> None:
    # Polled every second: log when the answer changes, not on every probe.
    global _last_failures
    if failed == _last_failures:
        return
    if failed:
        details = ", ".join(f"{name}: {checks[name]}" for name in sorted(failed))
        logger.warning("readyz: not ready (%s)", details)
    else:
        logger.warning("readyz: ready again")
    _last_failures = failed

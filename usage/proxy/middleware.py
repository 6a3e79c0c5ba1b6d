"""The metering proxy: every request under /api/v3/ is authenticated, limited, forwarded, logged.

It runs as the first middleware and answers /api/v3/ itself, so the hot path skips
sessions, CSRF, authentication middleware, URL resolving and templates entirely.

Database round trips of a forwarded call (DB limiter; with Redis, steps 3-4 are one Redis
script outside the transaction; on PostgreSQL, pipeline mode sends unread statements with
the next read, see usage.metering.db):

  1. SELECT the plan and the key by digest (two unique indexes)   - access.authenticate
  2. BEGIN; 3-4. minute windows of key and plan; 5-6. monthly credit of key and plan; COMMIT
  7. BEGIN; 8. hour counter; 9. call row; 10. key's last used; COMMIT   - ledger.record

Steps 7-10 commit before the answer leaves, so a killed server never loses an answered call.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http.request import RawPostDataException

from usage.metering import ledger, windows
from usage.metering.access import authenticate
from usage.models import Outcome
from usage.proxy import local
from usage.proxy.errors import DATABASE_UNAVAILABLE, INTERNAL_ERROR, error_response
from usage.proxy.forward import forward
from usage.proxy.refusals import limit_headers, refuse
from usage.proxy.request import BadPath, clean_path, client_key, strip_key_params

logger = logging.getLogger(__name__)

PREFIX = "/api/v3/"


class ProxyMiddleware:
    """Answers /api/v3/ before the rest of the middleware stack; passes everything else on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path_info = request.path_info
        if not path_info.startswith(PREFIX) and path_info != PREFIX[:-1]:
            return self.get_response(request)
        try:
            response = proxy(request, path_info[len(PREFIX) :])
        except DatabaseError:
            logger.exception("proxy: database error")
            response = error_response(*DATABASE_UNAVAILABLE)
        except Exception:
            # A bug, not a client's fault: still CoinGecko's shape, never an HTML page.
            logger.exception("proxy: unexpected error")
            response = error_response(*INTERNAL_ERROR)
        # The usage log records every refusal; Django's "Not Found: /path" lines would
        # only repeat it.
        response._has_been_logged = True
        return response


def proxy(request, path: str):
    now = windows.utc_now()
    meta = request.META
    call = ledger.CallRecord(
        at=now,
        key_id=None,
        method=request.method,
        path="/" + path,
        query=strip_key_params(meta.get("QUERY_STRING", "")),
        status=0,
        outcome="",
    )
    raw_key = client_key(meta)
    if not raw_key:
        return refuse(call, Outcome.MISSING_KEY)
    key, plan = authenticate(raw_key)
    if key is None:
        return refuse(call, Outcome.INVALID_KEY)
    call.key_id = key.pk
    try:
        upstream_path = clean_path(path, meta.get("RAW_URI") or meta.get("REQUEST_URI"))
        body = request.body if request.method in ("POST", "PUT", "PATCH") else None
    except (BadPath, RequestDataTooBig, RawPostDataException):
        return refuse(call, Outcome.BAD_REQUEST)

    endpoint = path.rstrip("/")
    is_local = request.method in ("GET", "HEAD") and endpoint in local.ENDPOINTS
    admission = ledger.admit(key=key, plan=plan, now=now, charge=not is_local)
    if admission.outcome is not None:
        return refuse(call, admission.outcome, admission)
    if is_local:
        response = local.answer(endpoint, key=key, plan=plan, now=now)
        call.status, call.outcome, call.bytes = 200, Outcome.OK, len(response.content)
        ledger.record(call, admission)
    else:
        response = forward(request, call, admission, upstream_path, body)
    limit_headers(response, admission.minute)
    return response

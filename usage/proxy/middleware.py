"""The metering proxy: every request under /api/v3/ is authenticated, limited, forwarded, logged.

It runs as the first middleware and answers /api/v3/ itself, so the hot path skips
sessions, CSRF, authentication middleware, URL resolving and templates entirely.

Database round trips of a forwarded call (DB limiter; with Redis, steps 3-4 are one Redis
script outside the transaction; on PostgreSQL, 5-7 are one call of tollgate_admit and 8-11
one of tollgate_complete, migration usage 0011, and pipeline mode sends unread statements
with the next read, see usage.metering.db):

  1. SELECT the plan, the key by either digest and its owner (unique indexes)
                                                                          - access.authenticate
  2. BEGIN; 3-4. minute windows of key and plan; 5-6. monthly credit of key and plan;
     7. the call's row, in flight; COMMIT                                 - ledger.admit
  8. BEGIN; 9. the row completed; 10. hour counter; 11. key's last used; COMMIT
                                                                          - ledger.record

Steps 8-11 commit before the answer leaves, so a killed server never loses an answered
call; a call cut off between 7 and 8 keeps its row and is settled (metering/settle.py).
"""

import logging

from django.db import DatabaseError

from keys.networks import address_allowed
from usage.cache import policy
from usage.cache import serve as cache
from usage.metering import ledger, windows
from usage.metering.access import authenticate
from usage.models import Outcome
from usage.proxy import local
from usage.proxy.endpoints import endpoint_name
from usage.proxy.errors import (
    DATABASE_UNAVAILABLE,
    INACTIVE_OWNER,
    INTERNAL_ERROR,
    ROLLED_AWAY,
    error_response,
)
from usage.proxy.forward import forward, without_body
from usage.proxy.refusals import limit_headers, refuse
from usage.proxy.request import BadPath, clean_path, client_key, strip_key_params

logger = logging.getLogger(__name__)

PREFIX = "/api/v3/"
# A GET carries no body; a client that sends a large one anyway is told so (413).
MAX_BODY = 64 * 1024


class ProxyMiddleware:
    """Answers /api/v3/ before the rest of the middleware stack; passes everything else on."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.database_down = False

    def __call__(self, request):
        path_info = request.path_info
        if not path_info.startswith(PREFIX) and path_info != PREFIX[:-1]:
            return self.get_response(request)
        try:
            response = proxy(request, path_info[len(PREFIX) :])
            if self.database_down:
                self.database_down = False
        except DatabaseError as exc:
            # Once per outage, not once per call: a flood of tracebacks fills the disk.
            if not self.database_down:
                logger.error("proxy: database unavailable, answering 503: %s", exc)
            self.database_down = True
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
    raw_key = client_key(meta)
    call = ledger.CallRecord(
        at=now,
        key_id=None,
        method=request.method,
        path="/" + path,
        query=strip_key_params(meta.get("QUERY_STRING", ""), secret=raw_key),
        status=0,
        outcome="",
        address=meta.get("REMOTE_ADDR") or "",
    )
    if not raw_key:
        return refuse(call, Outcome.MISSING_KEY)
    key, plan = authenticate(raw_key, now)
    if key is None:
        return refuse(call, Outcome.INVALID_KEY)
    call.key_id = key.pk
    if not key.owner_active:
        return refuse(call, Outcome.INVALID_KEY, message=INACTIVE_OWNER)
    if key.rolled_away:
        return refuse(call, Outcome.INVALID_KEY, message=ROLLED_AWAY)
    if key.expired:
        return refuse(call, Outcome.KEY_EXPIRED)
    # Parsed once per distinct list (keys.networks): a key with a list costs a few address
    # comparisons per call. The address is REMOTE_ADDR: the socket's, or the client's as a
    # front proxy listed in TRUSTED_PROXIES passes it, rewritten before this runs.
    if key.allowed_ips and not address_allowed(call.address, key.allowed_ips):
        return refuse(call, Outcome.ADDRESS_REFUSED)
    # The CoinGecko API is read-only and takes no body: nothing else reaches it, so no
    # method (TRACE echoes headers, the team key among them) or body can be abused.
    if _body_length(meta) > MAX_BODY:
        return refuse(call, Outcome.TOO_LARGE)
    if request.method not in ("GET", "HEAD"):
        return refuse(call, Outcome.METHOD_NOT_ALLOWED)
    try:
        upstream_path = clean_path(path, meta.get("RAW_URI") or meta.get("REQUEST_URI"))
    except BadPath:
        return refuse(call, Outcome.BAD_REQUEST)

    endpoint = path.rstrip("/")
    is_local = endpoint in local.ENDPOINTS
    if plan.cache_enabled and not is_local:
        ttl = policy.ttl_for(endpoint_name(call.path), plan.cache_ttls)
        if ttl > 0:
            response = cache.serve(
                request, call, key=key, plan=plan, now=now, upstream_path=upstream_path, ttl=ttl
            )
            if request.method == "HEAD" and not response.streaming:
                without_body(response)
            return response
    admission = ledger.admit(key=key, plan=plan, now=now, call=None if is_local else call)
    if admission.outcome is not None:
        return refuse(call, admission.outcome, admission)
    if is_local:
        response = local.answer(endpoint, key=key, plan=plan, now=now)
        call.status, call.outcome, call.bytes = 200, Outcome.OK, len(response.content)
        ledger.record(call, admission)
    else:
        response = forward(request, call, admission, upstream_path)
    limit_headers(response, admission.minute)
    if request.method == "HEAD" and not response.streaming:
        without_body(response)
    return response


def _body_length(meta) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return MAX_BODY + 1  # a length nobody can read is refused like a huge one

"""The metering proxy: every request under /api/v3/ is authenticated, limited, forwarded, logged.

It runs as the first middleware and answers /api/v3/ itself, so the hot path skips
sessions, CSRF, authentication middleware, URL resolving and templates entirely.

Database round trips of a forwarded call (DB limiter; with Redis, steps 3-4 are one Redis
script outside the transaction; on PostgreSQL, pipeline mode sends unread statements with the
next read, see usage.db):

  1. SELECT the plan and the key by digest (two unique indexes)  - ledger.limits
  2. BEGIN; 3-4. minute windows of key and plan; 5-6. monthly credit of key and plan; COMMIT
  7. BEGIN; 8. hour counter; 9. call row; 10. key's last used; COMMIT   - ledger.record

Steps 7-10 commit before the answer leaves, so a killed server never loses an answered call.
"""

import json
import logging
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse, StreamingHttpResponse
from django.http.request import RawPostDataException
from urllib3.exceptions import HTTPError, ReadTimeoutError

from usage import ledger, upstream, windows
from usage.errors import error_response
from usage.models import Outcome
from usage.selectors import key_status

logger = logging.getLogger(__name__)

PREFIX = "/api/v3/"
# Bodies up to this size are read whole, so their row carries the exact byte count; larger
# ones stream through in chunks and their byte count is added when the stream ends.
BUFFER_LIMIT = 1024 * 1024
CHUNK = 64 * 1024
PING_BODY = b'{"gecko_says":"(V3) To the Moon!"}'
LOCAL_ENDPOINTS = ("ping", "key")


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
            response = _json(
                503,
                {
                    "status": {
                        "error_code": 503,
                        "error_message": "Tollgate's database is unavailable; try again shortly.",
                    }
                },
            )
        except Exception:
            # A bug, not a client's fault: still CoinGecko's shape, never an HTML page.
            logger.exception("proxy: unexpected error")
            response = _json(
                500,
                {
                    "status": {
                        "error_code": 500,
                        "error_message": "Tollgate failed to handle this request.",
                    }
                },
            )
        # The usage log records every refusal; Django's "Not Found: /path" lines would
        # only repeat it.
        response._has_been_logged = True
        return response


def _json(status: int, body) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )


def client_key(meta) -> str:
    for header in upstream.KEY_HEADERS:
        value = meta.get(header)
        if value:
            return value.strip()
    query = meta.get("QUERY_STRING", "")
    if "api_key" in query.lower():
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower() in upstream.KEY_PARAMS and value:
                return value.strip()
    return ""


def _limit_headers(response, minute) -> None:
    if minute is None:
        return
    response["x-ratelimit-limit"] = str(minute.limit)
    response["x-ratelimit-remaining"] = str(minute.remaining)
    response["x-ratelimit-reset"] = minute.reset.strftime("%Y-%m-%d %H:%M:%S +0000")
    if not minute.admitted:
        response["Retry-After"] = str(minute.retry_after)


def _refuse(call: ledger.CallRecord, outcome: str, admission=None):
    response = error_response(outcome)
    call.status = response.status_code
    call.outcome = outcome
    call.bytes = len(response.content)
    ledger.record(call, admission)
    _limit_headers(response, admission.minute if admission else None)
    return response


def proxy(request, path: str):
    now = windows.utc_now()
    meta = request.META
    call = ledger.CallRecord(
        at=now,
        key_id=None,
        method=request.method,
        path="/" + path,
        query=upstream.strip_key_params(meta.get("QUERY_STRING", "")),
        status=0,
        outcome="",
    )
    raw_key = client_key(meta)
    if not raw_key:
        return _refuse(call, Outcome.MISSING_KEY)
    key, plan = ledger.limits(raw_key)
    if key is None:
        return _refuse(call, Outcome.INVALID_KEY)
    call.key_id = key.pk
    try:
        upstream_path = upstream.clean_path(path, meta.get("RAW_URI") or meta.get("REQUEST_URI"))
        body = request.body if request.method in ("POST", "PUT", "PATCH") else None
    except (upstream.BadPath, RequestDataTooBig, RawPostDataException):
        return _refuse(call, Outcome.BAD_REQUEST)

    local = request.method in ("GET", "HEAD") and path.rstrip("/") in LOCAL_ENDPOINTS
    admission = ledger.admit(key=key, plan=plan, now=now, charge=not local)
    if admission.outcome is not None:
        return _refuse(call, admission.outcome, admission)
    if local:
        response = _answer_locally(path.rstrip("/"), key, plan, now)
        call.status, call.outcome, call.bytes = 200, Outcome.OK, len(response.content)
        ledger.record(call, admission)
        _limit_headers(response, admission.minute)
        return response
    response = _forward(request, call, admission, upstream_path, body)
    _limit_headers(response, admission.minute)
    return response


def _answer_locally(endpoint: str, key, plan, now) -> HttpResponse:
    if endpoint == "ping":
        return HttpResponse(PING_BODY, content_type="application/json")
    return _json(200, key_status(key=key, plan=plan, now=now))


def _forward(request, call: ledger.CallRecord, admission, upstream_path: str, body):
    started = windows.monotonic()
    try:
        answer = upstream.send(
            method=request.method,
            path=upstream_path,
            query=call.query,
            headers=upstream.request_headers(request.META),
            body=body,
        )
        chunks, size, finished = _read_some(answer)
    except ReadTimeoutError:
        return _refuse(call, Outcome.UPSTREAM_TIMEOUT, admission)
    except (HTTPError, OSError) as exc:
        # Connection refused, DNS, TLS, connect timeout, a connection cut mid-answer.
        logger.warning("proxy: upstream unreachable: %s", type(exc).__name__)
        return _refuse(call, Outcome.UPSTREAM_UNREACHABLE, admission)
    call.latency_ms = (windows.monotonic() - started) * 1000
    call.status = answer.status
    call.outcome = Outcome.OK if 200 <= answer.status < 300 else Outcome.UPSTREAM_ERROR
    call.bytes = size
    call_id = ledger.record(call, admission)
    headers = upstream.response_headers(answer)
    if finished:
        answer.release_conn()  # read to the end: the connection goes back to the pool
        response = HttpResponse(b"".join(chunks), status=answer.status)
    else:
        response = StreamingHttpResponse(
            _stream_rest(answer, chunks, call, call_id), status=answer.status
        )
        declared = answer.headers.get("Content-Length")
        if declared and declared.isdigit():
            response["Content-Length"] = declared
    if "Content-Type" not in answer.headers:
        del response["Content-Type"]
    for name, value in headers:
        response[name] = value
    return response


def _read_some(answer):
    """Read the body up to BUFFER_LIMIT: (chunks, bytes read, whether it ended)."""
    chunks, size = [], 0
    stream = answer.stream(CHUNK, decode_content=False)
    for chunk in stream:
        chunks.append(chunk)
        size += len(chunk)
        if size > BUFFER_LIMIT:
            answer._tollgate_rest = stream
            return chunks, size, False
    return chunks, size, True


def _stream_rest(answer, head, call, call_id):
    extra = 0
    try:
        yield from head
        for chunk in answer._tollgate_rest:
            extra += len(chunk)
            yield chunk
    except Exception:
        # The client already has the status line: all we can do is cut the body short.
        logger.warning("proxy: upstream body broke off after %s bytes", call.bytes + extra)
    finally:
        answer.release_conn()
        try:
            ledger.add_bytes(call_id=call_id, call=call, extra=extra)
        except DatabaseError:
            logger.exception("proxy: could not add streamed bytes to call %s", call_id)

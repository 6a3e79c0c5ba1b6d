"""Forwarding an admitted call upstream and its answer back, with its row committed first.

Bodies up to BUFFER_LIMIT are read whole, so their row carries the exact byte count;
larger ones stream through in chunks and their byte count is added when the stream ends.
"""

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.http import HttpResponse, StreamingHttpResponse
from urllib3.exceptions import HTTPError, ReadTimeoutError

from usage.metering import db, ledger, windows
from usage.metering.completions import record_or_defer
from usage.models import Outcome
from usage.proxy import upstream
from usage.proxy.refusals import refuse

logger = logging.getLogger(__name__)

BUFFER_LIMIT = 1024 * 1024
CHUNK = 64 * 1024


@dataclass(slots=True)
class Exchange:
    """What one upstream call gave: a failure's outcome, or an answer with its first MiB."""

    failure: str | None = None  # Outcome.UPSTREAM_TIMEOUT or UPSTREAM_UNREACHABLE
    answer: object = None  # urllib3's response, the rest of a large body not yet read
    chunks: list = field(default_factory=list)
    finished: bool = True  # the whole body is in ``chunks``
    headers: list = field(default_factory=list)  # the upstream's, as passed on

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def forward(request, call: ledger.CallRecord, admission, upstream_path: str):
    """GET ``upstream_path`` (a HEAD is sent as a GET; the caller drops the body)."""
    db.release_pooled_connection()  # not held while the upstream takes its time
    sent = exchange(call, upstream_path, upstream.request_headers(request.META))
    return complete(request, call, admission, sent)


def exchange(call: ledger.CallRecord, upstream_path: str, headers: dict) -> Exchange:
    """Call the upstream and read up to BUFFER_LIMIT of its answer; fills in ``call``."""
    started = windows.monotonic()
    try:
        answer = upstream.send(path=upstream_path, query=call.query, headers=headers)
        chunks, size, finished = _read_some(answer)
    except ReadTimeoutError:
        return Exchange(failure=Outcome.UPSTREAM_TIMEOUT)
    except (HTTPError, OSError) as exc:
        # Connection refused, DNS, TLS, connect timeout, a connection cut mid-answer.
        logger.warning("proxy: upstream unreachable: %s", type(exc).__name__)
        return Exchange(failure=Outcome.UPSTREAM_UNREACHABLE)
    call.latency_ms = (windows.monotonic() - started) * 1000
    call.status = answer.status
    call.outcome = Outcome.OK if 200 <= answer.status < 300 else Outcome.UPSTREAM_ERROR
    call.bytes = size
    return Exchange(
        answer=answer,
        chunks=chunks,
        finished=finished,
        headers=upstream.response_headers(answer),
    )


def discard(sent: Exchange) -> None:
    """Let go of an answer nobody will be given."""
    if sent.answer is None:
        return
    if sent.finished:
        sent.answer.release_conn()
    else:
        sent.answer.close()


def complete(request, call: ledger.CallRecord, admission, sent: Exchange):
    """Record the call, then build the client's answer from what the upstream gave."""
    if sent.failure is not None:
        return refuse(call, sent.failure, admission)
    answer, chunks = sent.answer, sent.chunks
    # The upstream has answered: the client gets its answer even if the database fails now.
    call_id = record_or_defer(call, admission)
    if sent.finished:
        answer.release_conn()  # read to the end: the connection goes back to the pool
        response = HttpResponse(b"".join(chunks), status=answer.status)
    elif request.method == "HEAD":
        answer.close()  # nobody will read the rest: drop the connection, not the pool
        response = HttpResponse(b"", status=answer.status)
        if answer.headers.get("Content-Length", "").isdigit():
            response["Content-Length"] = answer.headers["Content-Length"]
    else:
        response = StreamingHttpResponse(
            _stream_rest(answer, chunks, call, call_id), status=answer.status
        )
        declared = answer.headers.get("Content-Length")
        if declared and declared.isdigit():
            response["Content-Length"] = declared
    if "Content-Type" not in answer.headers:
        del response["Content-Type"]
    for name, value in sent.headers:
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
        # call_id None: the completion waits for the database (completions.py) and will
        # count the first MiB only, in the row and its counter alike.
        if call_id is not None:
            try:
                ledger.add_bytes(call_id=call_id, call=call, extra=extra)
            except DatabaseError:
                logger.warning("proxy: could not add streamed bytes to call %s", call_id)


def without_body(response) -> None:
    """Make ``response`` the answer to a HEAD: the same status and headers, no body."""
    if response.content:
        response["Content-Length"] = str(len(response.content))
        response.content = b""

"""The proxy's path for an endpoint the cache covers (the plan's cache on, a TTL above 0).

1. A fresh copy: answered at once (``hit``), no credit, the key's minute window only.
2. Otherwise one caller per question becomes the leader (a lock in the store, across
   processes and instances): it is admitted like any call, goes upstream, records its
   row, stores a 200 for the TTL and publishes whatever it got for the others.
3. The others wait for that result (never past UPSTREAM_TIMEOUT) and answer with it at
   no credit (``coalesced``): one slow or failing burst is one upstream call, not N.
4. When the upstream fails (5xx, 429, timeout, unreachable) and a copy expired less than
   CACHE_STALE_SECONDS ago exists, that copy answers (``stale``), at no credit.

A client that sends ``Cache-Control: no-cache`` skips 1-3, pays its credit and refreshes
the copy. If the store fails (Redis away, a full disk), calls go upstream as if the
cache were off; the log says so once.
"""

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpResponse

from usage.cache import policy, stores
from usage.cache.entry import Entry
from usage.cache.stores import StoreError
from usage.metering import db, ledger, metrics
from usage.metering.completions import record_or_defer
from usage.models import Outcome
from usage.proxy import forward as forwarding
from usage.proxy import upstream
from usage.proxy.refusals import limit_headers, refuse

logger = logging.getLogger(__name__)

HEADER = "x-tollgate-cache"
# A leader's published result has no answer to share: its waiters try to lead (it was
# refused its own limits), or go upstream each (the answer could not be kept: too large,
# or the upstream said no-store).
RETRY, PASS = "retry", "pass"
FAILURES = (Outcome.UPSTREAM_TIMEOUT, Outcome.UPSTREAM_UNREACHABLE)
POLL_FIRST, POLL_MAX = 0.002, 0.05


class _Outage:
    """Whether to skip the store for now: after a failure, for REDIS_RETRY_INTERVAL."""

    def __init__(self):
        self.until = 0.0

    def skip(self) -> bool:
        return self.until > 0 and time.monotonic() < self.until

    def failed(self, exc: Exception) -> None:
        if self.until == 0:
            logger.warning("cache: store unavailable, calls go upstream uncached (%s)", exc)
        self.until = time.monotonic() + settings.REDIS_RETRY_INTERVAL

    def succeeded(self) -> None:
        if self.until:
            self.until = 0.0
            logger.warning("cache: store available again")


outage = _Outage()


def serve(request, call: ledger.CallRecord, *, key, plan, now, upstream_path: str, ttl: int):
    """Answer ``call`` through the cache; the response carries its limit headers."""
    meta = request.META
    encoding = policy.variant(meta.get("HTTP_ACCEPT_ENCODING", ""))
    question = _Question(
        request=request,
        call=call,
        key=key,
        plan=plan,
        now=now,
        upstream_path=upstream_path,
        ttl=ttl,
        cache_key=policy.cache_key(path=call.path, query=call.query, encoding=encoding),
        encoding=encoding,
    )
    response = _through_store(question, meta)
    label = response.get(HEADER)
    if label:
        metrics.observe_cache(label)
    return response


def _through_store(question, meta):
    if outage.skip():
        return question.fetch(token=None, store=None)
    try:
        store = stores.get_store()
        if policy.wants_fresh(meta):
            return question.fetch(token=None, store=store, fresh=True)
        response = question.lookup(store)
    except StoreError as exc:
        outage.failed(exc)
        return question.fetch(token=None, store=None)
    outage.succeeded()
    return response


@dataclass(slots=True)
class _Question:
    """One call through the cache: what it asks, who asks, and how it is answered."""

    request: object
    call: ledger.CallRecord
    key: object
    plan: object
    now: datetime
    upstream_path: str
    ttl: int
    cache_key: str
    encoding: str

    # --- the waiters' side -------------------------------------------------------------

    def lookup(self, store):
        """A fresh copy, or lead, or wait for the leader. Store errors propagate (nothing
        has been admitted or sent yet)."""
        token = secrets.token_hex(8)
        deadline = time.monotonic() + settings.UPSTREAM_TIMEOUT
        while True:
            entry = store.get(self.cache_key)
            if entry is not None and entry.fresh(time.time()):
                return self.answer(entry, Outcome.CACHED, "hit")
            lead_for = settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_TIMEOUT + 5
            leader = store.lead(self.cache_key, token, seconds=lead_for)
            if leader == token:
                # The last leader may have stored its answer and let go between our look
                # and our lead: look again, or this would be a second upstream call.
                entry = store.get(self.cache_key)
                if entry is not None and entry.fresh(time.time()):
                    _publish(store, self, token, Entry(0, [], b"", time.time(), outcome=RETRY))
                    return self.answer(entry, Outcome.CACHED, "hit")
                return self.fetch(token=token, store=store)
            db.release_pooled_connection()  # waiting needs no database connection
            result = _wait(store, self.cache_key, leader, deadline)
            if result is None:
                if time.monotonic() >= deadline:
                    return self.shared_failure(Outcome.UPSTREAM_TIMEOUT, store)
                continue  # the leader went away without a word: lead or wait anew
            if result.outcome == RETRY:
                continue
            if result.outcome == PASS:
                return self.fetch(token=None, store=None)
            if result.outcome in FAILURES:
                return self.shared_failure(result.outcome, store)
            if _failed(result.status, result.outcome):
                stale = _stale_copy(store, self.cache_key)
                if stale is not None:
                    return self.answer(stale, Outcome.STALE, "stale")
            outcome = Outcome.COALESCED if result.outcome == Outcome.OK else result.outcome
            return self.answer(result, outcome, "coalesced")

    def answer(self, entry: Entry, outcome: str, label: str):
        """Answer from ``entry`` at no credit, counted in the key's minute window only."""
        call = self.call
        call.status, call.outcome, call.bytes = entry.status, outcome, len(entry.body)
        admission = ledger.record_free(key=self.key, plan=self.plan, now=self.now, call=call)
        if admission.outcome is not None:
            return refuse(call, admission.outcome, admission)
        response = _response(entry, label)
        limit_headers(response, admission.minute)
        return response

    def shared_failure(self, outcome: str, store):
        """The leader's timeout or unreachable upstream, or a copy if there is one (a
        fresh one: another leader's answer landed as this caller gave up waiting)."""
        copy = _stale_copy(store, self.cache_key)
        if copy is not None:
            if copy.fresh(time.time()):
                return self.answer(copy, Outcome.CACHED, "hit")
            return self.answer(copy, Outcome.STALE, "stale")
        admission = ledger.admit(key=self.key, plan=self.plan, now=self.now, plan_window=False)
        if admission.outcome is not None:
            return refuse(self.call, admission.outcome, admission)
        response = refuse(self.call, outcome, admission)
        response[HEADER] = "coalesced"
        return response

    # --- the leader's side (and calls that go upstream uncached) -----------------------

    def fetch(self, *, token: str | None, store, fresh: bool = False):
        """Go upstream as an ordinary call; keep and share what comes back."""
        try:
            return self._fetch(token=token, store=store, fresh=fresh)
        except BaseException:
            # The database failed (or a bug): the waiters must not wait out their deadline
            # for a result that will never come; each tries on its own.
            _publish(store, self, token, Entry(0, [], b"", time.time(), outcome=RETRY))
            raise

    def _fetch(self, *, token: str | None, store, fresh: bool):
        call, request = self.call, self.request
        admission = ledger.admit(key=self.key, plan=self.plan, now=self.now, call=call)
        if admission.outcome is not None:
            _publish(store, self, token, Entry(0, [], b"", time.time(), outcome=RETRY))
            return refuse(call, admission.outcome, admission)
        db.release_pooled_connection()  # not held while the upstream takes its time
        headers = upstream.request_headers(request.META)
        headers["Accept-Encoding"] = self.encoding
        sent = forwarding.exchange(call, self.upstream_path, headers)
        status = 0 if sent.failure else call.status
        keep = policy.storable(status, sent.headers, sent.finished)
        body = sent.body if sent.finished else b""
        shared = _result(sent, call, body=body, keep=keep)
        if store is not None and not fresh and _failed(status, sent.failure or call.outcome):
            stale = _stale_copy(store, self.cache_key)
            if stale is not None:
                forwarding.discard(sent)
                call.status, call.outcome, call.bytes = stale.status, Outcome.STALE, len(stale.body)
                record_or_defer(call, admission)
                _publish(store, self, token, shared)
                response = _response(stale, "stale")
                limit_headers(response, admission.minute)
                return response
        response = forwarding.complete(request, call, admission, sent)
        if store is not None:
            if keep:
                entry = Entry(200, sent.headers, body, time.time(), ttl=self.ttl)
                _put(store, self.cache_key, entry)
            _publish(store, self, token, shared)
        response[HEADER] = "miss"
        limit_headers(response, admission.minute)
        return response


def _failed(status: int, outcome: str) -> bool:
    """The upstream failed in a way a stale copy may cover."""
    return outcome in FAILURES or status >= 500 or status == 429


def _result(sent, call, *, body: bytes = b"", keep: bool = False) -> Entry:
    """What the leader shares with its waiters."""
    if sent.failure is not None:
        return Entry(0, [], b"", time.time(), outcome=sent.failure)
    if not sent.finished or (call.status == 200 and not keep):
        return Entry(0, [], b"", time.time(), outcome=PASS)
    return Entry(call.status, sent.headers, body, time.time(), outcome=call.outcome)


def _put(store, cache_key: str, entry: Entry) -> None:
    try:
        store.put(cache_key, entry, keep=entry.ttl + settings.CACHE_STALE_SECONDS)
    except StoreError as exc:
        outage.failed(exc)


def _publish(store, question, token: str | None, result: Entry) -> None:
    if store is None or token is None:
        return
    try:
        store.publish(question.cache_key, token, result, keep=settings.UPSTREAM_TIMEOUT + 5)
    except StoreError as exc:
        outage.failed(exc)  # the waiters give up at their deadline


def _stale_copy(store, cache_key: str) -> Entry | None:
    try:
        entry = store.get(cache_key)
    except StoreError as exc:
        outage.failed(exc)
        return None
    if entry is not None and entry.stale_usable(time.time(), settings.CACHE_STALE_SECONDS):
        return entry
    return None


def _wait(store, cache_key: str, token: str, deadline: float) -> Entry | None:
    """The result the leader ``token`` publishes, or None once it is gone or time is up."""
    pause = POLL_FIRST
    while time.monotonic() < deadline:
        result, leading = store.poll(cache_key, token)
        if result is not None:
            return result
        if not leading:
            return None
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, POLL_MAX)
    return store.poll(cache_key, token)[0]  # one last look: it may have landed meanwhile


def _response(entry: Entry, label: str) -> HttpResponse:
    response = HttpResponse(entry.body, status=entry.status)
    if not any(name.lower() == "content-type" for name, _ in entry.headers):
        del response["Content-Type"]
    for name, value in entry.headers:
        response[name] = value
    response["Age"] = str(int(entry.age(time.time())))
    response[HEADER] = label
    return response

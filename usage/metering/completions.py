"""Completing a call whose answer is known when the database is not there to take it.

The upstream has answered (and may have spent a credit there): the client gets that
answer, never a 503 that would hide it. The call's row is already in the log, "in
flight", with its credit (ledger.admit); only its completion is missing. It is retried
here, in a thread of this process, until the database takes it. If the process dies
first, ``settle`` closes the row as abandoned with its credit kept. An outage is logged
once when it starts and once when it ends, however many calls it holds up.
"""

import logging
import threading
import time
from collections import deque

from django.db import DatabaseError, connection

from usage.metering import ledger

logger = logging.getLogger(__name__)

QUICK_RETRIES = (0.01, 0.05, 0.2)  # a lock held a moment too long: retry in the request
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 5.0

_pending: deque = deque()
_wakeup = threading.Condition()
_thread: threading.Thread | None = None


def record_or_defer(call: ledger.CallRecord, admission: ledger.Admission) -> int | None:
    """``ledger.record``, or (the database failing) queue it; the row id, or None if queued."""
    for pause in (*QUICK_RETRIES, None):
        try:
            return ledger.record(call, admission)
        except DatabaseError as exc:
            if pause is None:
                _defer(call, admission, exc)
                return None
            time.sleep(pause)
    return None


def pending() -> int:
    return len(_pending)


def _defer(call, admission, exc) -> None:
    global _thread
    with _wakeup:
        if not _pending:
            logger.warning(
                "ledger: the database failed after the upstream answered (%s); completions "
                "are kept and retried until it is back",
                exc,
            )
        _pending.append((call, admission))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_drain, name="ledger-completions", daemon=True)
            _thread.start()
        _wakeup.notify()


def _drain() -> None:
    wait = BACKOFF_FIRST
    written = 0
    while True:
        with _wakeup:
            while not _pending:
                if written:
                    logger.warning(
                        "ledger: the database is back; %s completion(s) written", written
                    )
                    written = 0
                _wakeup.wait()
            call, admission = _pending[0]
        try:
            ledger.record(call, admission)
        except DatabaseError:
            connection.close()  # this thread's connection: a fresh one next time
            time.sleep(wait)
            wait = min(BACKOFF_MAX, wait * 2)
            continue
        with _wakeup:
            _pending.popleft()
        written += 1
        wait = BACKOFF_FIRST

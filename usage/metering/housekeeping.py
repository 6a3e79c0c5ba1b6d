"""A server worker's background chores: settling calls cut off in flight.

One daemon thread per gunicorn worker process (started from post_worker_init), so a
worker that replaces a killed one settles what the killed one left. A database outage
is logged once, when it starts, and once when it ends.
"""

import logging
import threading

from django.db import DatabaseError, connection

from usage.metering.settle import settle

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_started = False


def _loop(interval: float) -> None:
    failing = False
    while True:
        try:
            settled = settle()
            if settled:
                logger.warning("housekeeping: settled %s call(s) cut off in flight", settled)
            if failing:
                logger.warning("housekeeping: the database answers again")
            failing = False
        except DatabaseError as exc:
            if not failing:
                logger.warning("housekeeping: database unavailable (%s); retrying", exc)
            failing = True
            connection.close()  # this thread's connection; a new one next time
        threading.Event().wait(interval)


def start(interval: float = 2.0) -> None:
    """Start this process's housekeeping thread. Idempotent."""
    global _started
    with _lock:
        if not _started:
            threading.Thread(
                target=_loop, args=(interval,), name="housekeeping", daemon=True
            ).start()
            _started = True

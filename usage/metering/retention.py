"""Call-log retention: rows older than CALL_LOG_RETENTION_DAYS go, the counters stay.

The log grows by millions of rows a year (10 M rows take about 2 GB) and only the
per-call export and checkcounters read old rows; reports, history and the daily CSV read
counters, which are kept for all time. Rows go in small batches, each its own short
transaction through the writers' turn (usage.metering.db), so the proxy's writes get in
between: a prune of millions of rows never holds the write lock for long.

The cut is at a whole UTC hour, so an hour counter is either wholly backed by rows or not
at all, and the horizon (usage.models.CallLogHorizon) moves before any row is deleted.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction

from usage.metering import db, windows
from usage.models import CallLogHorizon

logger = logging.getLogger(__name__)

BATCH = 2000
DAILY = 24 * 3600
# Between batches the prune rests four times as long as the batch took: it works at most
# a fifth of the time, so the proxy keeps its writers' turn and its CPU (a prune is never
# in a hurry; 10 M rows take about 40 minutes on a 2-core machine).
DUTY = 0.2
PAUSE = 0.01  # at least this long between batches
# The batch by the ``at`` index, then by primary key: one index range, one delete.
DELETE_BATCH = (
    "DELETE FROM usage_call WHERE id IN "
    "(SELECT id FROM usage_call WHERE at < %s ORDER BY at LIMIT %s) RETURNING id"
)


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime | None  # None: the log is kept in full
    deleted: int
    seconds: float


def cutoff_for(days: int, now: datetime) -> datetime | None:
    """The start of the UTC hour ``days`` days before ``now``; None for 0 (keep all)."""
    if days <= 0:
        return None
    return windows.hour_start(now - timedelta(days=days))


def horizon() -> datetime | None:
    """Since when the log holds every call (None: since the start)."""
    row = CallLogHorizon.objects.filter(pk=1).values_list("before", flat=True).first()
    return row


def prune_calls(
    *,
    days: int | None = None,
    now: datetime | None = None,
    batch: int = BATCH,
    pause: float = PAUSE,
    duty: float = DUTY,
) -> Pruned:
    """Delete the call rows older than ``days`` (default CALL_LOG_RETENTION_DAYS)."""
    days = settings.CALL_LOG_RETENTION_DAYS if days is None else days
    cutoff = cutoff_for(days, now or windows.utc_now())
    started = time.monotonic()
    if cutoff is None:
        return Pruned(None, 0, 0.0)
    with transaction.atomic():
        mark = CallLogHorizon.objects.select_for_update().get_or_create(pk=1)[0]
        if mark.before is None or mark.before < cutoff:
            mark.before = cutoff
            mark.save(update_fields=["before"])
    deleted = 0
    param = db.datetime_param(cutoff)
    while True:
        began = time.monotonic()
        with db.write() as cur:
            db.run(cur, DELETE_BATCH, [param, batch])
            count = len(cur.fetchall())  # read back: PostgreSQL's pipeline has no rowcount
        deleted += count
        if count < batch:
            break
        time.sleep(max(pause, (time.monotonic() - began) * (1 / duty - 1)))
    return Pruned(cutoff, deleted, time.monotonic() - started)


def vacuum() -> None:
    """Give the freed space back to the file system (SQLite only; PostgreSQL's autovacuum
    makes freed space reusable, which is enough). Rewrites the database file: writers
    wait meanwhile, so run it at a quiet time."""
    conn = connections["default"]
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cur:
        cur.execute("VACUUM")


def prune_daily(stop: threading.Event) -> threading.Thread:
    """Prune now and then once a day until ``stop`` is set, in a thread of its own (the
    alert sender's loop runs it: the first prune of a large log may take minutes, and
    alerts must not wait for it)."""

    def run():
        while not stop.is_set():
            try:
                pruned = prune_calls()
                if pruned.deleted:
                    logger.info(
                        "prunecalls: deleted %s calls before %s UTC in %.1f s",
                        pruned.deleted,
                        f"{pruned.cutoff:%Y-%m-%d %H:%M}",
                        pruned.seconds,
                    )
            except DatabaseError as exc:
                logger.warning("prunecalls: database error, trying again tomorrow: %s", exc)
            finally:
                close_old_connections()
            stop.wait(DAILY)

    thread = threading.Thread(target=run, name="prunecalls", daemon=True)
    thread.start()
    return thread

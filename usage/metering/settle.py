"""Closing calls cut off in flight, so the ledger never drifts after a crash.

A forwarded call's row is written "in flight" together with its credit (ledger.admit),
and completed when the answer is known (ledger.record). A worker killed in between leaves
the row in flight for good. Once no answer can still come (both upstream timeouts and
SETTLE_MARGIN have passed), ``settle`` closes it as ``abandoned``: the credit stays
charged, because the upstream may have served the call, and the row gets its hour
counter like any finished call. Every worker's housekeeping thread runs it; the
conditional update lets exactly one of them close each row.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from usage.metering import db, windows
from usage.metering.counters import ADD_HOUR
from usage.models import NO_KEY_REF, Call, Outcome
from usage.proxy.endpoints import endpoint_name

BATCH = 500


def settle_after() -> timedelta:
    """How long after its start a call can no longer be waiting for its answer."""
    return timedelta(
        seconds=settings.UPSTREAM_CONNECT_TIMEOUT
        + settings.UPSTREAM_TIMEOUT
        + settings.SETTLE_MARGIN
    )


def stale_calls(cutoff: datetime):
    """Ids of the calls still in flight that started before ``cutoff``.

    Ordered by time, which the partial index ``call_in_flight`` serves: every worker runs
    this every few seconds, and ordered by id SQLite scanned the whole call log instead.
    """
    in_flight = Call.objects.filter(outcome=Outcome.IN_FLIGHT, at__lt=cutoff)
    return in_flight.order_by("at").values_list("id", flat=True)[:BATCH]


def settle(now: datetime | None = None) -> int:
    """Close every call left in flight past ``settle_after``; returns how many."""
    cutoff = (now or windows.utc_now()) - settle_after()
    settled = 0
    for call_id in list(stale_calls(cutoff)):
        with transaction.atomic():
            if not Call.objects.filter(pk=call_id, outcome=Outcome.IN_FLIGHT).update(
                outcome=Outcome.ABANDONED
            ):
                continue  # completed or settled by someone else meanwhile
            call = Call.objects.get(pk=call_id)
            key_ref = NO_KEY_REF if call.key_id is None else call.key_id
            hour = db.datetime_param(windows.hour_start(call.at))
            row = [key_ref, hour, endpoint_name(call.path), Outcome.ABANDONED, call.credits, 0, 0]
            with db.write() as cur:
                db.run(cur, ADD_HOUR, row)
            settled += 1
    return settled

"""The usage report as CSV: a daily summary per key, or every call, streamed.

The console (``/usage/export.csv``), the ``exportusage`` command and the admin's action
all write through ``daily_csv`` and ``calls_csv``, so a file looks the same wherever it
came from. Both are generators of text chunks: rows are read from the database in chunks
and written through ``csv.writer`` into one small reused buffer, so memory stays flat
whether a file has ten rows or ten million.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, per OWASP,
tab and carriage return) as a formula, so text cells that start that way (labels,
endpoints, methods) get a leading ``'``. Numbers are written as numbers. Neither a raw
key nor the upstream key is stored anywhere, so neither can appear; the query string is
left out as well.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db import connection
from django.db.models import Sum
from django.db.models.expressions import RawSQL
from django.http import StreamingHttpResponse
from django.utils.cache import add_never_cache_headers

from usage.models import BUCKETS, Bucket, Call, HourUsage, Outcome
from usage.reports.periods import Period, team_zone

DAY = "day"
CALL = "call"
GRANULARITIES = [(DAY, "Daily summary per key"), (CALL, "Every call")]

# The console's words: "requests" counts every call, "credits used" those that cost a
# credit, overage included (docs/reports.md).
DAILY_HEADER = [
    "date",
    "key label",
    "key prefix",
    "requests",
    "credits used",
    "overage",
    "errors",
    "rate limited",
    "cached",
]
CALLS_HEADER = [
    "time",
    "key label",
    "key prefix",
    "method",
    "endpoint",
    "status",
    "outcome",
    "credits",
    "latency ms",
    "bytes",
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 5000  # rows fetched from the database and yielded as one piece of text


def defuse(text: str) -> str:
    """``text`` made safe to open in a spreadsheet: a formula-like start gets a ``'``."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def key_names(keys: Iterable) -> dict[int, tuple[str, str]]:
    """{key id: (label, prefix)} as the CSV shows them, a deleted key marked so."""
    return {
        key.pk: (
            defuse(key.label if key.is_active else f"{key.label} (deleted)"),
            defuse(key.prefix),
        )
        for key in keys
    }


def export_filename(period: Period, granularity: str, horizon: datetime | None = None) -> str:
    """The download's name; a per-call file that the retention cut short says since when."""
    suffix = "-calls" if granularity == CALL else ""
    if granularity == CALL and horizon is not None and period.start < horizon:
        suffix += f"-since-{horizon:%Y-%m-%d}"
    return f"tollgate-usage-{period.slug}{suffix}.csv"


class _Chunks:
    """A csv.writer over one StringIO that is emptied each time its text is taken."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def daily_csv(*, keys: list, period: Period) -> Iterator[str]:
    """One row per local day per key that made calls that day (days without calls are left
    out), from the hour counters, never the call log.

    The counters come back grouped by UTC hour and ordered by it, so local days arrive one
    after the other: each day's rows are written once the next day starts. Memory holds
    one day of keys, whatever the length of the period. Days are cut in whole UTC hours,
    like the report's, which is exact in every whole-hour time zone.
    """
    names = key_names(keys)
    # Within a day: keys by label (as shown), then id, the same on every database.
    rank = {
        pk: i for i, pk in enumerate(sorted(names, key=lambda pk: (names[pk][0].casefold(), pk)))
    }
    zone = team_zone()
    out = _Chunks()
    out.writer.writerow(DAILY_HEADER)
    yield out.take()

    rows = (
        HourUsage.objects.filter(
            key_ref__in=list(names), hour__gte=period.start, hour__lt=period.end
        )
        .values_list("hour", "key_ref", "outcome")
        .annotate(Sum("calls"), Sum("credits"), Sum("overage_calls"))
        .order_by("hour", "key_ref", "outcome")
        .iterator(chunk_size=ROWS_PER_CHUNK)
    )
    day, totals, written = None, {}, 0

    def flush():
        nonlocal written
        for key_ref in sorted(totals, key=rank.__getitem__):
            label, prefix = names[key_ref]
            out.writer.writerow([day.isoformat(), label, prefix, *totals[key_ref]])
            written += 1

    for hour, key_ref, outcome, calls, credits, overage in rows:
        local_day = hour.astimezone(zone).date()
        if local_day != day:
            flush()
            totals = {}
            day = local_day
            if written >= ROWS_PER_CHUNK:
                yield out.take()
                written = 0
        # requests, credits used (overage included), overage, errors, rate limited, cached
        row = totals.setdefault(key_ref, [0, 0, 0, 0, 0, 0])
        row[0] += calls
        row[1] += credits + overage
        row[2] += overage
        if BUCKETS[outcome] == Bucket.ERRORS:
            row[3] += calls
        elif outcome == Outcome.RATE_LIMITED:
            row[4] += calls
        elif BUCKETS[outcome] == Bucket.SAVED:
            row[5] += calls
    flush()
    if text := out.take():
        yield text


def _text_columns() -> dict[str, RawSQL]:
    """The call's time and latency as text, formatted by the database.

    The database does it in a fraction of the time Python takes to build a datetime and
    a float's shortest repr for each row: on PostgreSQL that was half of a per-call
    export's time. The time is ISO 8601 UTC with microseconds; the latency has three
    decimals (a microsecond), empty when the upstream was never reached.
    """
    if connection.vendor == "postgresql":
        at = "to_char(usage_call.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        latency = "to_char(usage_call.latency_ms, 'FM999999999990.000')"
    else:
        # Django keeps SQLite datetimes as naive UTC text, without the fraction when it is 0.
        at = (
            "replace(usage_call.at, ' ', 'T') || "
            "CASE WHEN length(usage_call.at) = 19 THEN '.000000Z' ELSE 'Z' END"
        )
        latency = (
            "CASE WHEN usage_call.latency_ms IS NULL THEN NULL "
            "ELSE printf('%.3f', usage_call.latency_ms) END"
        )
    # Fixed SQL, no user input.
    return {"at_text": RawSQL(at, []), "latency_text": RawSQL(latency, [])}  # noqa: S611


def calls_csv(calls, *, names: dict[int, tuple[str, str]]) -> Iterator[str]:
    """Every call of the queryset ``calls``, oldest first, one row each.

    ``names`` comes from ``key_names``; a call without a key (refused before one was
    known) has an empty label and prefix. The loop below is where a big export spends its
    Python time, hence its flat, inlined shape.
    """
    out = _Chunks()
    out.writer.writerow(CALLS_HEADER)
    yield out.take()
    rows = (
        calls.annotate(**_text_columns())
        .order_by("at", "id")
        .values_list(
            "at_text",
            "key_id",
            "method",
            "path",
            "status",
            "outcome",
            "credits",
            "latency_text",
            "bytes",
        )
        .iterator(chunk_size=ROWS_PER_CHUNK)
    )
    no_key, starts = ("", ""), FORMULA_STARTS
    writerows, buffered = out.writer.writerows, []
    append = buffered.append
    for at, key_id, method, path, status, outcome, credits, latency, size in rows:
        label, prefix = names.get(key_id, no_key)
        # defuse(), inlined: a function call per cell is a tenth of the export's time.
        if method.startswith(starts):
            method = "'" + method
        if path.startswith(starts):
            path = "'" + path
        append((at, label, prefix, method, path, status, outcome, credits, latency, size))
        if len(buffered) == ROWS_PER_CHUNK:
            writerows(buffered)
            buffered.clear()
            yield out.take()
    writerows(buffered)
    if text := out.take():
        yield text


def period_calls(*, keys: list, period: Period):
    """The calls of ``keys`` in ``period`` (start included, end excluded)."""
    return Call.objects.filter(
        key_id__in=[key.pk for key in keys], at__gte=period.start, at__lt=period.end
    )


def has_rows(*, keys: list, period: Period) -> bool:
    """Whether the export of ``keys`` over ``period`` has a row, from the hour counters
    (every call moves one): an empty file is not offered as a download."""
    return HourUsage.objects.filter(
        key_ref__in=[key.pk for key in keys], hour__gte=period.start, hour__lt=period.end
    ).exists()


def stream_csv(*, keys: list, period: Period, granularity: str) -> Iterator[str]:
    """The export of ``keys`` over ``period``: the text of the file, in chunks."""
    if granularity == CALL:
        return calls_csv(period_calls(keys=keys, period=period), names=key_names(keys))
    return daily_csv(keys=keys, period=period)


# A download starts with UTF-8's byte-order mark: without it Excel reads the file as the
# local code page and garbles non-ASCII labels ("café" as "cafÃ©"). LibreOffice, pandas
# (encoding="utf-8-sig") and Python's csv (same) read it fine. ``exportusage`` writes no
# mark: its output goes to scripts more often than to Excel.
BOM = "\ufeff"


def _bom_first(chunks: Iterator[str]) -> Iterator[str]:
    yield BOM + next(chunks, "")
    yield from chunks


def csv_response(chunks: Iterator[str], *, filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of ``chunks`` (text), with the byte-order mark first."""
    response = StreamingHttpResponse(_bom_first(chunks), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)  # someone's usage: never kept by a shared cache
    return response

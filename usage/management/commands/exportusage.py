"""Write the usage CSV to standard output: the console's export, for scripts and cron.

Every key is included, deleted ones too, unless ``--key`` names one by its display
prefix. Dates are whole days in TIME_ZONE, both ends included, as in the console.
"""

import os
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from keys.models import ApiKey
from usage.reports import export
from usage.reports.periods import MAX_RANGE_DAYS, period_for_dates


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date: use YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Write the usage report as CSV (a daily summary per key, or every call)."

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="First day, YYYY-MM-DD (included).")
        parser.add_argument("--end", required=True, help="Last day, YYYY-MM-DD (included).")
        parser.add_argument("--key", metavar="PREFIX", help="Only this key, e.g. tg_AbCd1234.")
        parser.add_argument(
            "--granularity",
            choices=[code for code, _ in export.GRANULARITIES],
            default=export.DAY,
            help="day: one row per key per day with calls (default); call: every call.",
        )

    def handle(self, *args, start, end, key, granularity, **options):
        first, last = _day(start), _day(end)
        if last < first:
            raise CommandError("--end comes before --start")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise CommandError(f"A range covers at most {MAX_RANGE_DAYS} days")
        try:
            period = period_for_dates(first, last)
        except OverflowError:
            raise CommandError("Those dates are out of range") from None

        keys = ApiKey.objects.order_by("id")
        if key is not None:
            keys = keys.filter(prefix=key)
            if not keys:
                raise CommandError(f"No key has the prefix {key!r}")
            if len(keys) > 1:
                raise CommandError(f"{len(keys)} keys have the prefix {key!r}")
        try:
            for chunk in export.stream_csv(keys=list(keys), period=period, granularity=granularity):
                self.stdout.write(chunk, ending="")
        except BrokenPipeError:
            # The reader left early (``| head``): no traceback, and none again when Python
            # flushes stdout on exit; the status says the file was not written whole.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None

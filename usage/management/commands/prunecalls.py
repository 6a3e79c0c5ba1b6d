"""Delete call rows past the retention (CALL_LOG_RETENTION_DAYS); counters stay."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from usage.metering import retention


class Command(BaseCommand):
    help = (
        "Delete call-log rows older than CALL_LOG_RETENTION_DAYS (or --days), in small "
        "batches while the proxy runs. Counters, reports and the daily CSV keep every month."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead (at least 1)")
        parser.add_argument(
            "--batch", type=int, default=retention.BATCH, help="rows deleted per transaction"
        )
        parser.add_argument(
            "--vacuum",
            action="store_true",
            help="then give the space back to the file system (SQLite: VACUUM, which makes "
            "writers wait while it runs)",
        )

    def handle(self, *args, days, batch, vacuum, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more (CALL_LOG_RETENTION_DAYS=0 keeps all).")
        if batch < 1:
            raise CommandError("--batch must be 1 or more.")
        pruned = retention.prune_calls(days=days, batch=batch)
        if pruned.cutoff is None:
            self.stdout.write(
                "prunecalls: the call log is kept in full (CALL_LOG_RETENTION_DAYS="
                f"{settings.CALL_LOG_RETENTION_DAYS})"
            )
        else:
            self.stdout.write(
                f"prunecalls: deleted {pruned.deleted} calls before "
                f"{pruned.cutoff:%Y-%m-%d %H:%M} UTC in {pruned.seconds:.1f} s"
            )
        if vacuum:
            retention.vacuum()
            self.stdout.write("prunecalls: vacuumed")

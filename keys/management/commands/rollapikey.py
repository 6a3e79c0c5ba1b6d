"""Roll an API key from a script: the new raw key is the only line on standard output."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from keys.models import ApiKey
from keys.services import GRACE_PERIODS, key_roll


class Command(BaseCommand):
    help = (
        "Give an API key a new value (printed, shown only this once); the old value keeps "
        "working for the grace period, then stops."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--key", required=True, help="the key's display prefix, e.g. tg_AbCd1234"
        )
        parser.add_argument(
            "--grace",
            choices=list(GRACE_PERIODS),
            default="0",
            help="how long the old value keeps working (default 0: it stops now)",
        )

    def handle(self, *args, key, grace, **options):
        # A prefix is 8 random characters after tg_: two active keys sharing one is
        # unlikely, never impossible, and then neither is rolled.
        matches = list(ApiKey.objects.active().filter(prefix=key.strip().rstrip("…"))[:2])
        if not matches:
            raise CommandError(f"no active key with the prefix {key!r}")
        if len(matches) > 1:
            raise CommandError(
                f"more than one active key has the prefix {key!r}: roll it in the admin"
            )
        try:
            _key, raw_key = key_roll(key=matches[0], grace=GRACE_PERIODS[grace])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(raw_key)

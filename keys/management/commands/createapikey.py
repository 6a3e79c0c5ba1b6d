"""Create an API key from a script: the raw key is the only line on standard output."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from keys.models import LIMIT_MAX
from keys.services import key_create
from keys.timeparse import expiry_argument


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= LIMIT_MAX:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Create an API key for a user and print the raw key (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="username of the key's owner")
        parser.add_argument("--label", required=True, help="what the key is for")
        parser.add_argument("--rate-limit", type=_limit, default=None, help="requests per minute")
        parser.add_argument(
            "--monthly-credits", type=_limit, default=None, help="monthly call credits"
        )
        parser.add_argument(
            "--expires",
            type=expiry_argument,
            default=None,
            help="YYYY-MM-DD[THH:MM] in TIME_ZONE: calls are refused from then on "
            "(a date alone: its midnight)",
        )
        parser.add_argument(
            "--allow-ips",
            default="",
            help="comma-separated addresses and CIDR networks allowed to call, "
            "e.g. 10.1.0.0/16,2001:db8::/32",
        )

    def handle(
        self,
        *args,
        owner,
        label,
        rate_limit,
        monthly_credits,
        expires,
        allow_ips,
        **options,
    ):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: owner})
        except User.DoesNotExist:
            raise CommandError(f"no user named {owner!r}") from None
        try:
            _key, raw_key = key_create(
                owner=user,
                label=label,
                rate_limit=rate_limit,
                monthly_credits=monthly_credits,
                expires_at=expires,
                allowed_ips=allow_ips,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(raw_key)

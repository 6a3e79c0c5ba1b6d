"""The expiry a command line gives: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``, in TIME_ZONE."""

import argparse
from datetime import datetime

from django.utils import timezone

FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d")


def expiry_argument(value: str) -> datetime:
    """An aware datetime for ``--expires``; argparse reports anything else as a usage error."""
    for fmt in FORMATS:
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return timezone.make_aware(moment, timezone.get_default_timezone())
    raise argparse.ArgumentTypeError(
        f"{value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM (for example 2027-01-31T18:00)"
    )

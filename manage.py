#!/usr/bin/env python
"""Django's command-line utility for Tollgate."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from dashboard.env import SettingsError

    try:
        # Load the settings first so that a bad environment variable stops the start
        # with its one-line message rather than a traceback.
        import dashboard.settings  # noqa: F401
    except SettingsError as exc:
        sys.exit(f"tollgate: configuration error: {exc}")

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

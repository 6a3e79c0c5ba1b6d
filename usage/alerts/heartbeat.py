"""The alert sender's heartbeat: a file whose modification time says when it last looped.

``/readyz`` asks whether the sender is alive without asking the sender anything: the
sender touches this file on every scan and between deliveries (one ``utime`` system call,
no database write), and the web workers compare its age with ``MAX_AGE``. The file lives
in ``DATA_DIR``, so it speaks for the senders of this host (``make run``'s, or a systemd
unit's sharing the same environment file).
"""

import os
import time
from pathlib import Path

from django.conf import settings

# The sender scans every 5 s and beats between deliveries (an SMTP timeout is 20 s by
# default): a minute without a beat means it is stuck or gone.
MAX_AGE = 60.0


def heartbeat_path() -> Path:
    return Path(settings.DATA_DIR) / "sendalerts.heartbeat"


def beat() -> None:
    """Say "alive" now (creates the file on the first beat)."""
    path = heartbeat_path()
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def age(now: float | None = None) -> float | None:
    """Seconds since the last beat, or None when the sender never beat on this host."""
    try:
        modified = heartbeat_path().stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - modified)

"""Keep SQLite's WAL checkpoints off the request path.

By default the connection whose commit pushes the write-ahead log past 1000 pages runs
the checkpoint itself, fsync included: every few hundred proxied calls one of them
waited 10-20 ms for the disk (bench/proxy.py's p99). In a server worker, a background
thread checkpoints once a second instead, on a connection of its own, and the worker's
request connections never do. Everything else (commands, tests) keeps SQLite's default.
"""

import logging
import sqlite3
import threading
import time

from django.conf import settings
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_started = False


def _no_autocheckpoint(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.execute("PRAGMA wal_autocheckpoint=0")


def _loop(path: str, interval: float) -> None:
    conn = sqlite3.connect(path, timeout=20, check_same_thread=False)
    while True:
        time.sleep(interval)
        try:
            # PASSIVE: copies what it can without blocking writers or waiting for readers.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.exception("checkpoint: WAL checkpoint failed; retrying in %s s", interval)


def start(interval: float = 1.0) -> bool:
    """Start the checkpointer in this process, if the database is SQLite. Idempotent."""
    global _started
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return False
    with _lock:
        if _started:
            return True
        connection_created.connect(_no_autocheckpoint, dispatch_uid="tollgate-no-autocheckpoint")
        threading.Thread(
            target=_loop, args=(str(database["NAME"]), interval), name="wal-checkpoint", daemon=True
        ).start()
        _started = True
    return True

"""Keep SQLite's WAL checkpoints off the writers' path.

By default the connection whose commit pushes the write-ahead log past 1000 pages runs
the checkpoint itself, fsync included, so every few hundred proxied calls one of them
waits for the disk. Instead a ``Checkpointer`` thread checkpoints on a
connection of its own, and the writers' connections never do: in a server worker
(``start``, from gunicorn's post_worker_init) and while ``seedusage`` bulk-writes.
Everything else (commands, tests) keeps SQLite's default.

A PASSIVE checkpoint never blocks anyone, but it never shrinks the log either, and under
a steady stream of writes the log was never reset: it grew by hundreds of megabytes a
minute. So when the log passes WAL_LIMIT, or has been copied whole and is merely large,
the checkpointer takes the proxy writers' turn and truncates it
(TRUNCATE waits for readers, which are short). The log stays bounded under any load and
shrinks back when the load stops.
"""

import fcntl
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db.backends.signals import connection_created

from usage.metering import db

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_started = None

WAL_LIMIT = 16 * 1024 * 1024  # truncate past this, whatever the load
WAL_IDLE_LIMIT = 1024 * 1024  # truncate past this once the log has been copied whole
TRUNCATE_WAIT_MS = 250
SIZE_CHECK_INTERVAL = 0.25


def _native(name: str):
    """``threading.<name>`` as the OS provides it, also where gevent patched the module.

    A checkpoint copies pages and syncs the file: in a greenlet it would stop every
    request of the worker meanwhile; in a thread of its own, sqlite3 lets go of the GIL
    and the requests go on.
    """
    try:
        from gevent import monkey
    except ImportError:
        return getattr(threading, name)
    if monkey.is_module_patched("threading"):
        return monkey.get_original("threading", name)
    return getattr(threading, name)


class Checkpointer:
    """PASSIVE checkpoints every ``interval`` seconds in a thread, until ``stop`` (then one
    more). PASSIVE copies what it can without blocking writers or waiting for readers."""

    def __init__(self, path: str, interval: float = 1.0):
        self.path = path
        self.interval = interval
        self._failing = False
        self._stopping = _native("Event")()
        self._thread = _native("Thread")(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=20, check_same_thread=False)
        next_checkpoint = time.monotonic() + self.interval
        try:
            # The log's size is looked at four times as often as it is checkpointed: at a
            # few thousand writes a second it grows by tens of MB a second.
            while not self._stopping.wait(min(self.interval, SIZE_CHECK_INTERVAL)):
                if self._wal_size() > WAL_LIMIT or time.monotonic() >= next_checkpoint:
                    self.checkpoint(conn)
                    next_checkpoint = time.monotonic() + self.interval
            self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn) -> None:
        try:
            _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            size = self._wal_size()
            if size > WAL_LIMIT or (size > WAL_IDLE_LIMIT and frames == copied):
                # Writers wait for us meanwhile, so wait for readers a moment only: a
                # reader that holds its snapshot (a CSV export streaming to a slow client)
                # defers the truncation to a later round instead of stalling every call.
                conn.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}")
                try:
                    with self._writers_turn():
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    conn.execute("PRAGMA busy_timeout = 20000")
        except sqlite3.Error as exc:
            # Once per episode (a full disk fails every second until it is freed).
            if not self._failing:
                logger.warning("checkpoint: WAL checkpoint failed (%s); retrying", exc)
            self._failing = True
        else:
            if self._failing:
                logger.warning("checkpoint: WAL checkpoints work again")
            self._failing = False

    @contextmanager
    def _writers_turn(self):
        """The proxy writers' turn (db.SQLITE_WRITER_LOCK beside the database), on a file
        description of this thread's own, so that it excludes this process's writers too
        (flock() locks belong to the open file, not the process)."""
        fd = os.open(
            self.path + db.SQLITE_WRITER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the description releases the lock

    def _wal_size(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def no_autocheckpoint(sender, connection, **kwargs):
    """Every new SQLite connection of this process leaves checkpoints to the Checkpointer."""
    if connection.vendor == "sqlite":
        connection.connection.execute("PRAGMA wal_autocheckpoint=0")


def start(interval: float = 1.0) -> bool:
    """Start the checkpointer in this process, if the database is SQLite. Idempotent."""
    global _started
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return False
    with _lock:
        if _started is None:
            connection_created.connect(no_autocheckpoint, dispatch_uid="tollgate-no-autocheckpoint")
            _started = Checkpointer(str(database["NAME"]), interval)
    return True

"""Hot-path SQL: raw DB-API cursors and transactions under Django's connection.

The proxy's statements are fixed strings run a few times per call, so they skip Django's
cursor wrappers (placeholder rewriting, execute wrappers) and, outside a caller's own
transaction, ``atomic`` too: its bookkeeping and the per-attribute lookups through
Django's thread-aware connection proxy cost more CPU than SQLite spent running the
statements. Driver errors still come out as Django's ``DatabaseError`` (the connection's
own error wrapper), so a broken connection is closed at the end of the request as usual.
Inside an ``atomic`` block (tests, callers with their own transaction) writes nest as
Django savepoints, so everyone sees ordinary Django transactions.
"""

import fcntl
import os
import sqlite3
import threading
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, date, datetime
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connections, transaction

try:
    import psycopg
except ImportError:  # SQLite only
    psycopg = None

# Pipeline mode needs libpq 14 or later (psycopg[binary] brings its own).
_PIPELINE = psycopg is not None and psycopg.Pipeline.is_supported()


# The writers' turn across processes: an flock() of this file beside the database.
SQLITE_WRITER_LOCK = ".writer-lock"


class _SQLiteWriters:
    """The turn to write to the SQLite database, taken before BEGIN IMMEDIATE.

    SQLite lets one writer in at a time, and a blocked writer sleeps in steps of 1, 2, 5,
    10 ms... before it looks again: under load most of a worker's time went to those naps.
    Writers on the hot path queue here instead and are woken the moment the previous one
    is done: threads of one process on a lock, processes on an flock() of a file beside
    the database. Other writers (the console, commands) still meet the busy handler, but
    they are rare.
    """

    def __init__(self):
        self._threads = threading.Lock()
        self._fd = None
        self._pid = None

    def _file(self) -> int | None:
        # One descriptor per process: a forked worker must not share its parent's, or the
        # two would hold the same lock. An in-memory database (the tests') lives in one
        # process: the threads' lock is enough.
        if self._pid != os.getpid():
            conn = connections[DEFAULT_DB_ALIAS]
            self._fd = None
            if not conn.is_in_memory_db():
                path = str(conn.settings_dict["NAME"]) + SQLITE_WRITER_LOCK
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self):
        self._threads.acquire()
        try:
            self._locked = self._file()
            if self._locked is not None:
                fcntl.flock(self._locked, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc):
        try:
            if self._locked is not None:
                fcntl.flock(self._locked, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_sqlite_writers = _SQLiteWriters()


def _connection():
    """This thread's connection to the default database (one proxy lookup), connected."""
    conn = connections[DEFAULT_DB_ALIAS]
    conn.ensure_connection()
    return conn


@lru_cache(maxsize=512)
def _placeholders(sqlite: bool, statement: str) -> str:
    return statement.replace("%s", "?") if sqlite else statement


def is_sqlite() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "sqlite"


def run(cur, statement: str, params) -> None:
    cur.execute(_placeholders(isinstance(cur, sqlite3.Cursor), statement), params)


def _cursor(conn):
    """A driver cursor. On PostgreSQL one that binds on the server, so that its statements
    are prepared (``prepare_threshold`` in dashboard.env.database).

    Django's own cursors bind on the client and never prepare; the proxy runs the same
    dozen statements on every call, and preparing them spared PostgreSQL a parse and a
    plan each time.
    """
    if conn.vendor == "sqlite":
        return conn.connection.cursor()
    return psycopg.Cursor(conn.connection)


def _fetch(statement: str, params, *, one: bool):
    conn = _connection()
    with conn.wrap_database_errors:
        cur = _cursor(conn)
        try:
            run(cur, statement, params)
            return cur.fetchone() if one else cur.fetchall()
        finally:
            cur.close()


def fetch_one(statement: str, params):
    return _fetch(statement, params, one=True)


def fetch_all(statement: str, params) -> list:
    return _fetch(statement, params, one=False)


@contextmanager
def write():
    """A write transaction with a raw cursor; commits when the block ends without error."""
    conn = _connection()
    sqlite = conn.vendor == "sqlite"
    with _sqlite_writers if sqlite else nullcontext():
        if conn.in_atomic_block:
            with transaction.atomic(using=conn.alias), conn.wrap_database_errors:
                cur = _cursor(conn)
                try:
                    yield cur
                finally:
                    cur.close()
            return
        with conn.wrap_database_errors:
            cur = _cursor(conn)
            try:
                # PostgreSQL: in pipeline mode, statements whose results nobody reads
                # (BEGIN, most upserts, COMMIT) go out together with the next one that
                # is read, instead of a network round trip each.
                with nullcontext() if sqlite or not _PIPELINE else conn.connection.pipeline():
                    # IMMEDIATE: SQLite takes the write lock now, not at the first write,
                    # so two writers never both read a window as open.
                    cur.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
                    yield cur
                    cur.execute("COMMIT")
            except BaseException:
                # Outside the pipeline, which refuses new statements after an error. A
                # failed ROLLBACK (connection gone) must not hide the first error.
                with suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()


def date_param(value: date):
    return value.isoformat() if is_sqlite() else value


def datetime_param(value: datetime):
    """Django keeps SQLite datetimes as naive UTC text; PostgreSQL takes the aware value.

    The same text as Django's adapt_datetimefield_value, without its settings lookups.
    """
    if not is_sqlite():
        return value
    return str(value.astimezone(UTC).replace(tzinfo=None))


def release_pooled_connection() -> None:
    """Hand this request's pooled connection back before a long wait (the upstream).

    A forwarded call may wait UPSTREAM_TIMEOUT for its answer; holding a pooled PostgreSQL
    connection meanwhile let 16 stuck calls take a worker's whole pool, and every other
    call then waited for one and got 503. The next statement takes one again. SQLite has no
    pool (a connection is a file handle): nothing to do. Inside a caller's transaction
    (tests) the connection stays.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql" or conn.in_atomic_block or not getattr(conn, "pool", None):
        return
    conn.close()

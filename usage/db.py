"""Hot-path SQL: the DB-API cursor under Django's connection, and turns for SQLite writers.

The proxy's statements are fixed strings run a few times per call, so they skip Django's
cursor wrappers (placeholder rewriting, execute wrappers): that alone was a fifth of the
database time of a proxied call. Transactions are still Django's ``atomic``, so tests and
the rest of the project see ordinary Django transactions.
"""

import threading
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from functools import lru_cache

from django.db import connection, transaction

# SQLite lets one writer in at a time, and a blocked writer sleeps in steps of 1, 2, 5,
# 10 ms... before it looks again. Threads of one process therefore queue here instead, and
# are woken the moment the previous writer commits; only writers in other processes ever
# meet SQLite's sleeping busy handler.
_sqlite_writers = threading.Lock()


@lru_cache(maxsize=512)
def _placeholders(vendor: str, statement: str) -> str:
    return statement.replace("%s", "?") if vendor == "sqlite" else statement


def cursor():
    connection.ensure_connection()
    return connection.connection.cursor()


def run(cur, statement: str, params) -> None:
    cur.execute(_placeholders(connection.vendor, statement), params)


def fetch_one(statement: str, params):
    cur = cursor()
    try:
        run(cur, statement, params)
        return cur.fetchone()
    finally:
        cur.close()


def fetch_all(statement: str, params) -> list:
    cur = cursor()
    try:
        run(cur, statement, params)
        return cur.fetchall()
    finally:
        cur.close()


@contextmanager
def write():
    """A write transaction with a raw cursor; commits when the block ends without error."""
    turn = _sqlite_writers if connection.vendor == "sqlite" else nullcontext()
    with turn, transaction.atomic():
        cur = cursor()
        try:
            yield cur
        finally:
            cur.close()


def date_param(value: date):
    return value.isoformat() if connection.vendor == "sqlite" else value


def datetime_param(value: datetime):
    # Django keeps SQLite datetimes as naive UTC text; PostgreSQL takes the aware value.
    return (
        connection.ops.adapt_datetimefield_value(value) if connection.vendor == "sqlite" else value
    )

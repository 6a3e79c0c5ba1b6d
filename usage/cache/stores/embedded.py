"""The cache without Redis: an SQLite file that every worker process of this instance shares.

Not the usage database: its writes would queue behind the ledger's, and a cache may be
lost at any time (synchronous=OFF, nothing here is worth an fsync). Not per-process
memory either: four workers would each pay the upstream for the same answer, and could
not wait on each other's calls. The file is bounded by CACHE_MAX_MB: past it, the
entries that expire first are evicted (expired ones before all others).
"""

import os
import sqlite3
import time

from usage.cache.entry import Entry
from usage.cache.stores import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (k TEXT PRIMARY KEY, keep_until REAL, size INTEGER, blob BLOB);
CREATE INDEX IF NOT EXISTS entry_keep ON entry (keep_until);
CREATE TABLE IF NOT EXISTS lead (k TEXT PRIMARY KEY, token TEXT, until REAL);
CREATE TABLE IF NOT EXISTS result (k TEXT, token TEXT, until REAL, blob BLOB,
    PRIMARY KEY (k, token));
CREATE TABLE IF NOT EXISTS total (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER);
INSERT OR IGNORE INTO total VALUES (1, 0);
"""
# Take the lead if nobody holds it, or if its holder's time ran out (a killed worker).
LEAD = (
    "INSERT INTO lead (k, token, until) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE "
    "SET token = excluded.token, until = excluded.until WHERE lead.until < ?"
)
IDLE_CONNECTIONS = 8


class EmbeddedStore:
    def __init__(self, path, *, max_bytes: int):
        self.path = str(path)
        self.max_bytes = max_bytes
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.executescript(SCHEMA)
        return conn

    def _run(self, work):
        """``work(conn)`` on an idle connection of this process (greenlets and threads
        each take their own; none is shared with a forked child)."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            conn = self._idle.pop() if self._idle else self._open()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(exc) from exc
        try:
            result = work(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(exc) from exc
        if len(self._idle) < IDLE_CONNECTIONS:
            self._idle.append(conn)
        else:
            conn.close()
        return result

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def get(self, key: str) -> Entry | None:
        row = self._run(
            lambda c: c.execute(
                "SELECT blob FROM entry WHERE k = ? AND keep_until > ?", (key, time.time())
            ).fetchone()
        )
        return Entry.unpack(row[0]) if row else None

    def put(self, key: str, entry: Entry, *, keep: float) -> None:
        blob = entry.pack()
        if len(blob) > self.max_bytes:
            return

        def write(conn):
            conn.execute("BEGIN IMMEDIATE")
            try:
                old = conn.execute("SELECT size FROM entry WHERE k = ?", (key,)).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO entry VALUES (?, ?, ?, ?)",
                    (key, time.time() + keep, len(blob), blob),
                )
                grown = len(blob) - (old[0] if old else 0)
                (total,) = conn.execute(
                    "UPDATE total SET bytes = bytes + ? RETURNING bytes", (grown,)
                ).fetchone()
                if total > self.max_bytes:
                    self._evict(conn, total - self.max_bytes, keep_key=key)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run(write)

    def _evict(self, conn, excess: int, *, keep_key: str) -> None:
        """Delete the entries that expire first until ``excess`` bytes are gone."""
        freed = 0
        for k, size in conn.execute(
            "SELECT k, size FROM entry WHERE k != ? ORDER BY keep_until", (keep_key,)
        ).fetchall():
            if freed >= excess:
                break
            conn.execute("DELETE FROM entry WHERE k = ?", (k,))
            freed += size
        conn.execute("UPDATE total SET bytes = bytes - ?", (freed,))

    def lead(self, key: str, token: str, *, seconds: float) -> str:
        now = time.time()

        def take(conn):
            conn.execute(LEAD, (key, token, now + seconds, now))
            return conn.execute("SELECT token FROM lead WHERE k = ?", (key,)).fetchone()[0]

        return self._run(take)

    def publish(self, key: str, token: str, result: Entry, *, keep: float) -> None:
        now = time.time()

        def write(conn):
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM result WHERE until < ?", (now,))
                conn.execute(
                    "INSERT OR REPLACE INTO result VALUES (?, ?, ?, ?)",
                    (key, token, now + keep, result.pack()),
                )
                conn.execute("DELETE FROM lead WHERE k = ? AND token = ?", (key, token))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run(write)

    def poll(self, key: str, token: str) -> tuple[Entry | None, bool]:
        def read(conn):
            result = conn.execute(
                "SELECT blob FROM result WHERE k = ? AND token = ?", (key, token)
            ).fetchone()
            lead = conn.execute(
                "SELECT 1 FROM lead WHERE k = ? AND token = ? AND until > ?",
                (key, token, time.time()),
            ).fetchone()
            return result, lead is not None

        row, leading = self._run(read)
        return (Entry.unpack(row[0]) if row else None), leading

"""A flood of calls without a key, at full speed, against Tollgate under gunicorn on SQLite:
the disk must not fill. Such calls cost one counter row per address and minute, and the
write-ahead log stays bounded while the flood lasts and shrinks back after it."""

import http.client
import threading
import time
from pathlib import Path

from tests.servers import TollgateServer

FLOOD_SECONDS = 8
WAL_BOUND = 64 * 1024 * 1024
SHRUNK = 1024 * 1024  # the checkpointer truncates a log copied whole past 1 MB


def flood(port: int, until: float, sent: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    count = 0
    while time.monotonic() < until:
        try:
            conn.request("GET", "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd")
            response = conn.getresponse()
            response.read()
            count += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    sent.append(count)


def test_a_keyless_flood_keeps_rows_and_the_wal_bounded(upstream, tmp_path):
    server = TollgateServer("sqlite", "", tmp_path, upstream.url)
    wal = Path(server.env["DATA_DIR"]) / "tollgate.sqlite3-wal"
    try:
        server.start()
        until = time.monotonic() + FLOOD_SECONDS
        sent = []
        threads = [
            threading.Thread(target=flood, args=(server.port, until, sent)) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        sizes = []
        while any(thread.is_alive() for thread in threads):
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.05)
        calls = sum(sent)
        assert calls > 1000  # a flood, not a trickle
        assert max(sizes) < WAL_BOUND, f"WAL reached {max(sizes):,} bytes"
        deadline = time.monotonic() + 15
        while wal.exists() and wal.stat().st_size > SHRUNK and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not wal.exists() or wal.stat().st_size <= SHRUNK
        counted = server.manage(
            "shell",
            "-v",
            "0",
            "-c",
            "from usage.models import Call, KeylessCalls; from django.db.models import Sum; "
            "print(Call.objects.count(), KeylessCalls.objects.count(), "
            "KeylessCalls.objects.aggregate(n=Sum('calls'))['n'])",
        ).split()
        rows, keyless_rows, keyless_calls = map(int, counted)
        assert rows == 0
        # One row per address and minute: the flood spans at most two minutes (plus the
        # start-up check's minute).
        assert keyless_rows <= 3
        assert keyless_calls == calls + 1  # the start-up check called without a key too
        assert "counters match the call log" in server.manage("checkcounters")
    finally:
        server.stop()

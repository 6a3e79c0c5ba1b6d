"""Faults, measured: a keyless flood against the disk, and a kill -9 against the ledger.

    make bench-faults FLOOD=60        # or: bench/faults.py --flood 60

Tollgate runs as ``make run`` does (gunicorn, SQLite in a throwaway DATA_DIR) in front of
the simulated upstream, and this prints, in one run:

- a keyless flood at full speed for FLOOD seconds (several client processes, keep-alive):
  requests sent, the write-ahead log's peak size during it and its size once the flood is
  over, and the rows it cost (call rows, keyless counter rows);
- kill -9 of every worker while calls are in flight: how long until the killed calls are
  settled (no row left in flight), and whether checkcounters passes then. (The server runs
  16 threads per worker so that every one of those calls is upstream when the kill comes.)

It prints figures beside the targets and never fails on a missed target.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HOST, BenchError, Harness, closed_loop, free_port, print_figures  # noqa: E402

TEAM_KEY = "CG-bench-faults-team-key"
PRICE = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
WAL_TARGET = 64 * 1024 * 1024
IN_FLIGHT = 16


class FaultBench(Harness):
    def __init__(self, flood_seconds: float):
        tmp = Path(tempfile.mkdtemp(prefix="tollgate-faults-"))
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        super().__init__(tmp, env)
        self.flood_seconds = flood_seconds
        self.port, self.sim_port = free_port(), free_port()
        self.env.update(
            DATA_DIR=str(tmp / "data"),
            HOST=HOST,
            PORT=str(self.port),
            UPSTREAM_URL=f"http://{HOST}:{self.sim_port}/api/v3",
            UPSTREAM_API_KEY=TEAM_KEY,
            UPSTREAM_TIMEOUT="5",
            UPSTREAM_CONNECT_TIMEOUT="1",
            SETTLE_MARGIN="1",
            # Threads enough that every call of the kill -9 phase is upstream at once.
            WEB_THREADS="16",
        )
        self.wal = tmp / "data" / "tollgate.sqlite3-wal"
        self.figures: list[tuple[str, str, str]] = []

    def start(self) -> None:
        self.key, self.tollgate = self.start_behind_upstream(
            port=self.port, sim_port=self.sim_port, team_key=TEAM_KEY, user="faults"
        )

    def wal_size(self) -> int:
        return self.wal.stat().st_size if self.wal.exists() else 0

    def flood(self) -> None:
        print(f"keyless flood: {self.flood_seconds:g} s at full speed...", flush=True)
        queue = multiprocessing.Queue()
        clients = [
            multiprocessing.Process(
                target=closed_loop, args=(self.port, PRICE, {}, self.flood_seconds, 8, queue)
            )
            for _ in range(2)
        ]
        for client in clients:
            client.start()
        peak = 0
        while any(client.is_alive() for client in clients):
            peak = max(peak, self.wal_size())
            time.sleep(0.1)
        sent = sum(queue.get() for _ in clients)
        after_flood = self.wal_size()
        deadline = time.monotonic() + 15
        while self.wal_size() > 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.25)
        counted = self.shell(
            "from usage.models import Call, KeylessCalls\n"
            "from django.db.models import Sum\n"
            "print('=', Call.objects.count(), KeylessCalls.objects.count(), "
            "KeylessCalls.objects.aggregate(n=Sum('calls'))['n'])"
        ).split()
        rows, keyless_rows, keyless_calls = (int(value) for value in counted)
        mb = 1024 * 1024
        rate = sent / self.flood_seconds
        self.figures += [
            ("keyless requests sent", f"{sent:,} ({rate:,.0f}/s)", "(reference)"),
            ("WAL peak during the flood", f"{peak / mb:.1f} MB", "<= 64 MB"),
            ("WAL when the flood ended", f"{after_flood / mb:.1f} MB", "(reference)"),
            ("WAL 15 s later at most", f"{self.wal_size() / mb:.1f} MB", "<= 1 MB"),
            ("call rows written", f"{rows:,}", "0"),
            ("keyless counter rows", f"{keyless_rows:,}", "<= 1 per address per minute"),
            ("keyless calls counted", f"{keyless_calls:,}", f"{sent:,} (= sent)"),
        ]

    def kill_and_settle(self) -> None:
        print(f"kill -9: {IN_FLIGHT} calls in flight, every worker killed...", flush=True)
        self._sim("/__sim/config", {"delay": 3})
        before = self._sim("/__sim/stats")["count"]
        callers = [threading.Thread(target=self._call_quietly) for _ in range(IN_FLIGHT)]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 10
        while self._sim("/__sim/stats")["count"] < before + IN_FLIGHT:
            if time.monotonic() > deadline:
                raise BenchError("the calls did not all reach the upstream")
            time.sleep(0.05)
        children = Path(f"/proc/{self.tollgate.pid}/task/{self.tollgate.pid}/children")
        killed_at = time.monotonic()
        for pid in children.read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        self._sim("/__sim/config", {"delay": 0})
        for caller in callers:
            caller.join()
        count = (
            "from usage.models import Call\nprint('=', Call.objects.filter(outcome='%s').count())"
        )
        while self.shell(count % "in_flight").strip() != "0":
            if time.monotonic() - killed_at > 60:
                raise BenchError("calls were still in flight a minute after the kill")
            time.sleep(0.25)
        settled_in = time.monotonic() - killed_at
        abandoned = self.shell(count % "abandoned").strip()
        try:
            self.manage("checkcounters")
            check = "passes"
        except BenchError:
            check = "FAILS"
        self.figures += [
            ("calls cut off by kill -9", f"{IN_FLIGHT} in flight, {abandoned} abandoned", "equal"),
            ("settled after the kill in", f"{settled_in:.1f} s", "<= 10 s (7 s + housekeeping)"),
            ("checkcounters afterwards", check, "passes"),
        ]

    def _call_quietly(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=15)
        try:
            conn.request("GET", PRICE, headers={"x-cg-pro-api-key": self.key})
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # its worker was killed under it: that is the point
        finally:
            conn.close()

    def _sim(self, path: str, change: dict | None = None) -> dict:
        conn = http.client.HTTPConnection(HOST, self.sim_port, timeout=5)
        try:
            if change is None:
                conn.request("GET", path)
            else:
                conn.request("POST", path, body=json.dumps(change))
            return json.loads(conn.getresponse().read() or b"{}")
        finally:
            conn.close()

    def report(self) -> None:
        title = "Tollgate fault benchmark (SQLite, gunicorn as make run, throwaway DATA_DIR)"
        print_figures(title, self.figures, width=36)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--flood",
        type=float,
        default=float(os.environ.get("FLOOD") or 60),
        help="seconds of keyless flood (env FLOOD, default 60)",
    )
    args = parser.parse_args()
    bench = FaultBench(args.flood)
    return bench.run_steps(
        "bench-faults", bench.start, bench.flood, bench.kill_and_settle, bench.report
    )


if __name__ == "__main__":
    sys.exit(main())

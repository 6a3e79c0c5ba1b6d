"""Isolation, measured: slow clients and a slow upstream must not stop the team.

    make bench-isolation DURATION=60     # or: bench/isolation.py --duration 60

Tollgate runs with ``make run``'s settings (no other server in front) on a throwaway
database, in front of the simulated upstream, and this prints in one run:

0. unloaded: the fast endpoint's rate (closed loop) and the console's p99 (login page);
1. 256 slow clients for DURATION s (half dribble a header line every 2 s, half a request
   body 10 bytes every 2 s; each reconnects when closed): console p99, the fast
   endpoint's rate against unloaded, and how long a connection that sends nothing stays
   open;
2. 64 calls stuck on an endpoint the upstream answers in 30 s: console p99, the fast
   endpoint's rate, and when each stuck call got its 504 (UPSTREAM_TIMEOUT, 10 s);
3. both at once, and the memory of all Tollgate processes together.

It prints figures beside the targets and never fails on a missed target. With
DATABASE_URL and REDIS_URL set it runs on them (the database must exist).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HOST, Harness, closed_loop, free_port, print_figures  # noqa: E402

TEAM_KEY = "CG-bench-isolation-team-key"
FAST = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
SLOW = "/api/v3/coins/markets?vs_currency=usd"
CONSOLE = "/accounts/login/"
SLOW_CLIENTS = 256
STUCK = 64
UPSTREAM_TIMEOUT = 10.0


def fast_rate(port: int, key: str, seconds: float) -> float:
    queue = multiprocessing.Queue()
    headers = {"x-cg-pro-api-key": key}
    args = (port, FAST, headers, seconds, 8, queue)
    client = multiprocessing.Process(target=closed_loop, args=args)
    client.start()
    calls = queue.get()
    client.join()
    return calls / seconds


def console_p99(port: int, seconds: float) -> tuple[float, int]:
    """The login page, one request after another: (p99 in ms, failures)."""
    until = time.monotonic() + seconds
    times, failed = [], 0
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            conn.request("GET", CONSOLE)
            ok = conn.getresponse().status == 200
            conn.close()
        except (OSError, http.client.HTTPException):
            ok = False
        times.append((time.monotonic() - started) * 1000)
        failed += not ok
        time.sleep(0.05)
    times.sort()
    return times[min(len(times) - 1, int(len(times) * 0.99))], failed


class SlowClients:
    """Connections that dribble a header line or a body chunk every 2 s, reconnecting
    whenever the server closes one, until stopped; one selector thread drives them all."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.stopping = threading.Event()
        self.reconnects = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i: int):
        sock = socket.create_connection((HOST, self.port), timeout=10)
        sock.setblocking(False)
        if i % 2:
            head = f"POST {CONSOLE} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        else:
            head = f"GET {CONSOLE} HTTP/1.1\r\nHost: x\r\n"
        sock.send(head.encode())
        return sock

    def _run(self) -> None:
        socks = {}
        selector = selectors.DefaultSelector()
        for i in range(self.count):
            try:
                socks[i] = self._open(i)
                selector.register(socks[i], selectors.EVENT_READ, i)
            except OSError:
                pass
        next_drip = time.monotonic() + 2
        while not self.stopping.is_set():
            for key, _ in selector.select(timeout=0.2):
                i = key.data
                try:
                    closed = key.fileobj.recv(65536) == b""
                except OSError:
                    closed = True
                if closed:  # the server gave up on it: come back, as an attacker would
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    self.reconnects += 1
                    try:
                        socks[i] = self._open(i)
                        selector.register(socks[i], selectors.EVENT_READ, i)
                    except OSError:
                        socks.pop(i, None)
            if time.monotonic() >= next_drip:
                next_drip += 2
                for i, sock in list(socks.items()):
                    try:
                        sock.send(b"X-Slow: 1\r\n" if i % 2 == 0 else b"a" * 10)
                    except OSError:
                        pass
        for sock in socks.values():
            sock.close()

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join()


def silent_connection_lifetime(port: int, limit: float = 40) -> float:
    """Seconds until the server closes a connection that sends nothing."""
    sock = socket.create_connection((HOST, port), timeout=limit)
    started = time.monotonic()
    try:
        sock.recv(1)
    except OSError:
        pass
    finally:
        sock.close()
    return time.monotonic() - started


class IsolationBench(Harness):
    def __init__(self, duration: float):
        tmp = Path(tempfile.mkdtemp(prefix="tollgate-isolation-"))
        super().__init__(tmp, dict(os.environ))
        self.duration = duration
        self.port, self.sim_port = free_port(), free_port()
        self.env.update(
            DATA_DIR=str(tmp / "data"),
            HOST=HOST,
            PORT=str(self.port),
            UPSTREAM_URL=f"http://{HOST}:{self.sim_port}/api/v3",
            UPSTREAM_API_KEY=TEAM_KEY,
            UPSTREAM_TIMEOUT=str(UPSTREAM_TIMEOUT),
        )
        self.rows: list[tuple[str, str, str]] = []

    def start(self) -> None:
        self.key, self.tollgate = self.start_behind_upstream(
            port=self.port, sim_port=self.sim_port, team_key=TEAM_KEY, user="isolation"
        )
        slow = {"slow_path": SLOW.split("?")[0], "slow_delay": 30}
        conn = http.client.HTTPConnection(HOST, self.sim_port, timeout=5)
        conn.request("POST", "/__sim/config", body=json.dumps(slow))
        conn.getresponse().read()

    def measure(self, name: str, seconds: float) -> tuple[float, float]:
        """The fast endpoint's rate and the console's p99 over the same ``seconds``."""
        result = {}
        sampler = threading.Thread(
            target=lambda: result.setdefault("console", console_p99(self.port, seconds))
        )
        sampler.start()
        rate = fast_rate(self.port, self.key, seconds)
        sampler.join()
        p99, failed = result["console"]
        print(f"  {name}: fast endpoint {rate:,.0f}/s, console p99 {p99:,.0f} ms", flush=True)
        return rate, p99 if not failed else float("inf")

    def stuck_calls(self) -> tuple[list, threading.Thread]:
        answers = []

        def one():
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                conn.request("GET", SLOW, headers={"x-cg-pro-api-key": self.key})
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException):
                status = 0
            answers.append((status, time.monotonic() - started))

        threads = [threading.Thread(target=one) for _ in range(STUCK)]
        for thread in threads:
            thread.start()
        waiter = threading.Thread(target=lambda: [t.join() for t in threads])
        waiter.start()
        return answers, waiter

    def memory_mb(self) -> float:
        pids = [self.tollgate.pid]
        children = Path(f"/proc/{self.tollgate.pid}/task/{self.tollgate.pid}/children")
        pids += [int(pid) for pid in children.read_text().split()]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def run(self) -> None:
        seconds = min(self.duration, 20)
        print("0. unloaded", flush=True)
        base_rate, base_p99 = self.measure("unloaded", seconds)
        self.rows.append(("unloaded fast endpoint", f"{base_rate:,.0f}/s", "(reference)"))
        self.rows.append(("unloaded console p99", f"{base_p99:,.0f} ms", "(reference)"))

        print(f"1. {SLOW_CLIENTS} slow clients for {self.duration:g} s", flush=True)
        slow = SlowClients(self.port, SLOW_CLIENTS)
        slow.start()
        time.sleep(3)
        rate, p99 = self.measure("slow clients", self.duration - 3)
        silent = silent_connection_lifetime(self.port)
        slow.stop()
        self._targets("slow clients", rate, base_rate, p99)
        self.rows.append(("  silent connection closed after", f"{silent:.1f} s", "<= 30 s"))
        self.rows.append(("  slow clients reconnected", f"{slow.reconnects:,}", "(reference)"))

        print(f"2. {STUCK} calls stuck on a 30-s upstream endpoint", flush=True)
        answers, waiter = self.stuck_calls()
        time.sleep(1)
        rate, p99 = self.measure("stuck calls", UPSTREAM_TIMEOUT - 2)
        waiter.join()
        self._targets("stuck calls", rate, base_rate, p99)
        self._stuck_figures(answers)

        print("3. both at once", flush=True)
        slow = SlowClients(self.port, SLOW_CLIENTS)
        slow.start()
        answers, waiter = self.stuck_calls()
        time.sleep(2)
        memory = self.memory_mb()
        rate, p99 = self.measure("both", UPSTREAM_TIMEOUT - 3)
        memory = max(memory, self.memory_mb())
        waiter.join()
        slow.stop()
        self._targets("both", rate, base_rate, p99)
        self._stuck_figures(answers)
        self.rows.append(("  memory of all Tollgate processes", f"{memory:,.0f} MB", "< 400 MB"))

    def _targets(self, name: str, rate: float, base: float, p99: float) -> None:
        share = rate / base * 100 if base else 0
        self.rows.append((f"{name}: console p99", f"{p99:,.0f} ms", "<= 1000 ms"))
        self.rows.append(("  fast endpoint", f"{rate:,.0f}/s ({share:.0f} %)", ">= 50 %"))

    def _stuck_figures(self, answers) -> None:
        statuses = sorted({status for status, _ in answers})
        times = sorted(t for _, t in answers)
        late = max(times) - UPSTREAM_TIMEOUT if times else float("nan")
        self.rows.append(("  stuck calls answered", f"{len(answers)} with {statuses}", "504"))
        self.rows.append(
            ("  their answer times", f"{times[0]:.1f}-{times[-1]:.1f} s", "10 s, +<= 1 s")
        )
        self.rows.append(("  latest past UPSTREAM_TIMEOUT", f"{late:+.2f} s", "<= +1 s"))

    def report(self) -> None:
        backend = "PostgreSQL" if self.env.get("DATABASE_URL") else "SQLite"
        backend += " + Redis" if self.env.get("REDIS_URL") else ""
        workers = self.env.get("WEB_WORKERS") or "2"
        worker_class = self.env.get("WEB_WORKER_CLASS") or "gevent"
        title = f"Tollgate isolation benchmark ({backend}, {workers} {worker_class} workers)"
        print_figures(title, self.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("DURATION") or 60),
        help="seconds of slow clients (env DURATION, default 60)",
    )
    args = parser.parse_args()
    bench = IsolationBench(max(args.duration, 10))
    return bench.run_steps("bench-isolation", bench.start, bench.run, bench.report)


if __name__ == "__main__":
    sys.exit(main())

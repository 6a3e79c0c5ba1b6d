"""Benchmark Tollgate's metering proxy against the simulated CoinGecko upstream.

    make bench                                  # or: .venv/bin/python bench/proxy.py
    make bench DURATION=5 CONCURRENCY=16        # or: bench/proxy.py --duration 5 --concurrency 16

One run sets everything up, measures, checks the usage log and tears everything down:

- a throwaway DATA_DIR with a fresh SQLite database (or DATABASE_URL / REDIS_URL when set),
  a plan so large that no limit binds, a ``bench`` user and key;
- the simulated upstream (``python -m devtools.simulator``) and Tollgate started the way
  ``make run`` starts it (gunicorn, ``dashboard.gunicorn_conf``), both on 127.0.0.1;
- phase A: closed loop straight to the upstream (its top rate and latency);
- phase B: closed loop through Tollgate, same concurrency (Tollgate's top rate);
- phase C: open loop at half of B's rate, through Tollgate and straight to the upstream;
  added latency = Tollgate's percentile minus the direct one;
- every request through Tollgate must have left one ``usage.models.Call`` row.

The load generator is a few processes, each with a thread per keep-alive
``http.client.HTTPConnection``: cheap on CPU, which matters on a 2-core machine that also
runs Tollgate and the upstream. Targets are printed beside the figures; a missed target
never fails the run, only a crash does. Every child process is killed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

from harness import GUNICORN, HOST, PYTHON, BenchError, Harness, free_port

PATH = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
KEY_HEADER = "x-cg-pro-api-key"
BIG = 2_000_000_000  # LIMIT_MAX: limits this high never bind during a run
SOCKET_TIMEOUT = 10.0

TARGET_RPS = 800
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=SOCKET_TIMEOUT)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _load_process(port, headers, connections, start, end, rate, offset, out):
    """One load process: ``connections`` threads, each with its own keep-alive connection.

    rate None: closed loop, each thread sends its next request as soon as the last answer
    is read. rate R: open loop, requests are due every 1/R s (shifted by ``offset``) and the
    next free thread sends each one when it is due.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    lock = threading.Lock()
    slot = [0]
    results = []  # per thread: (sent, errors, latencies, lags, last_done)

    def next_due():
        with lock:
            k = slot[0]
            slot[0] += 1
        return start + offset + k / rate

    def worker():
        sent = errors = 0
        lat = array("d")
        lags = array("d")
        last_done = start
        conn = None
        while True:
            if rate is None:
                if time.monotonic() >= end:
                    break
            else:
                due = next_due()
                if due >= end:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                if conn is None:
                    conn = _connect(port)
                t0 = time.monotonic()
                if rate is not None:
                    lags.append(t0 - due)
                sent += 1
                conn.request("GET", PATH, headers=headers)
                response = conn.getresponse()
                response.read()
                t1 = time.monotonic()
                last_done = t1
                if response.status == 200:
                    lat.append(t1 - t0)
                else:
                    errors += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except Exception:  # noqa: BLE001 - any failure is an error of this request
                errors += 1
                last_done = time.monotonic()
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            results.append((sent, errors, lat, lags, last_done))

    delay = start - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(end - time.monotonic() + 2 * SOCKET_TIMEOUT)
    sent = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = array("d")
    lags = array("d")
    for r in results:
        lat.extend(r[2])
        lags.extend(r[3])
    # Threads that never finished (stuck past their timeout) count their request as failed.
    stuck = connections - len(results)
    last_done = max((r[4] for r in results), default=end)
    out.put((sent + stuck, errors + stuck, lat.tobytes(), lags.tobytes(), last_done))


class Phase:
    def __init__(self, name, sent, errors, latencies, lags, elapsed):
        self.name = name
        self.sent = sent
        self.errors = errors
        self.lat = sorted(latencies)
        self.lags = sorted(lags)
        self.elapsed = elapsed

    @property
    def ok(self):
        return len(self.lat)

    @property
    def rps(self):
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def pct(self, p, values=None):
        values = self.lat if values is None else values
        if not values:
            return float("nan")
        index = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
        return values[index] * 1000

    def line(self):
        text = (
            f"{self.name:<34} {self.sent:>7} requests {self.errors:>4} errors "
            f"{self.rps:>7.0f} req/s   latency ms p50 {self.pct(50):6.2f}  "
            f"p90 {self.pct(90):6.2f}  p99 {self.pct(99):6.2f}  max {self.pct(100):6.2f}"
        )
        if self.lags:
            text += f"   (send lag p99 {self.pct(99, self.lags):.2f} ms)"
        return text


def _cpu_seconds(session: int) -> float:
    """User + system CPU of every live process in ``session`` (gunicorn and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After "pid (comm)": state ppid pgrp session ... utime(12) stime(13)
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / tick


class Bench(Harness):
    def __init__(self, args):
        self.args = args
        self.loaders: list[multiprocessing.Process] = []
        super().__init__(Path(tempfile.mkdtemp(prefix="tollgate-bench-")), dict(os.environ))
        self.external_db = bool(os.environ.get("DATABASE_URL"))
        self.redis = bool(os.environ.get("REDIS_URL"))
        self.team_key = "sim-" + secrets.token_hex(16)
        self.sim_port = free_port()
        self.port = free_port()
        for name in ("DJANGO_SETTINGS_MODULE", "UPSTREAM_KEY_HEADER"):
            self.env.pop(name, None)
        self.env.update(
            # Throwaway in every case: the SQLite database and a generated secret key.
            DATA_DIR=str(self.tmp / "data"),
            HOST=HOST,
            PORT=str(self.port),
            UPSTREAM_URL=f"http://{HOST}:{self.sim_port}/api/v3",
            UPSTREAM_API_KEY=self.team_key,
            PYTHONUNBUFFERED="1",
        )
        self.tollgate_calls = 0
        self.saved_plan = None
        self.label = "bench"

    # --- processes ---

    def cleanup(self):
        # A second Ctrl-C must not cut the cleanup short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in self.loaders:
            if proc.is_alive():
                proc.kill()
        for proc in self.loaders:
            proc.join(2)
        self.stop_children()
        if self.saved_plan is not None:
            try:
                self.restore_plan()
            except Exception as exc:  # noqa: BLE001
                print(f"warning: could not restore the plan's limits: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- setup ---

    def setup(self):
        db = "PostgreSQL (DATABASE_URL)" if self.external_db else "SQLite, throwaway DATA_DIR"
        if self.external_db and not os.environ["DATABASE_URL"].startswith("postgres"):
            db = "DATABASE_URL (SQLite)"
        self.backend = db + (
            ", Redis minute limiter (REDIS_URL)" if self.redis else ", database minute limiter"
        )
        print(f"backend: {self.backend}", flush=True)
        t0 = time.monotonic()
        self.manage("migrate", "--noinput", "-v", "0")
        out = self.shell(
            "from django.contrib.auth import get_user_model\n"
            "from keys.models import ApiKey\n"
            "from usage.models import Call, Plan\n"
            "get_user_model().objects.get_or_create(username='bench')\n"
            "p = Plan.load()\n"
            "print('=', p.rate_limit, p.monthly_credits)\n"
            f"p.rate_limit = p.monthly_credits = {BIG}\n"
            "p.save()\n"
            "print('=', ApiKey.objects.active().filter(owner__username='bench', "
            "label__iexact='bench').exists())\n"
        )
        old_rate, old_credits, taken = out.split()
        if self.external_db:
            self.saved_plan = (int(old_rate), int(old_credits))
        if taken == "True":
            self.label = f"bench-{secrets.token_hex(4)}"
        self.key = self.manage("createapikey", "--owner", "bench", "--label", self.label).strip()
        print(f"set up database, plan and key in {time.monotonic() - t0:.1f} s", flush=True)

        sim = self.spawn(
            [
                PYTHON,
                "-m",
                "devtools.simulator",
                "--host",
                HOST,
                "--port",
                str(self.sim_port),
                "--api-key",
                self.team_key,
            ],
            "upstream",
        )
        tollgate = self.spawn(
            [GUNICORN, "-c", "python:dashboard.gunicorn_conf", "dashboard.wsgi"], "tollgate"
        )
        self.tollgate_pid = tollgate.pid
        self.wait_http(
            sim, self.sim_port, "/api/v3/ping", {KEY_HEADER: self.team_key}, "upstream", want=200
        )
        # A page outside /api/v3/, so waiting leaves no usage row behind.
        self.wait_http(tollgate, self.port, "/accounts/login/", {}, "tollgate", want=200)
        self.workers = self.env.get("WEB_WORKERS") or "2"
        self.threads = self.env.get("WEB_THREADS") or "4"
        self.worker_class = self.env.get("WEB_WORKER_CLASS") or "gevent"
        print(
            f"upstream (simulated) on {HOST}:{self.sim_port}, Tollgate on {HOST}:{self.port} "
            f"({self.workers} workers x {self.threads} threads), up after "
            f"{time.monotonic() - t0:.1f} s",
            flush=True,
        )

    def restore_plan(self):
        rate, credits = self.saved_plan
        self.saved_plan = None
        self.shell(
            "from usage.models import Plan\n"
            f"p = Plan.load(); p.rate_limit = {rate}; p.monthly_credits = {credits}; p.save()\n"
        )

    def count_rows(self):
        out = self.shell(
            "from usage.models import Call\n"
            f"print('=', Call.objects.filter(key__owner__username='bench', "
            f"key__label={self.label!r}).count(), Call.objects.count())\n"
        )
        by_key, total = out.split()
        return int(by_key), int(total)

    # --- load ---

    def run_load(self, name, port, headers, duration, rate=None, through_tollgate=False):
        concurrency = self.args.concurrency
        procs = max(1, min(self.args.processes, concurrency))
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        start = time.monotonic() + 0.3
        end = start + duration
        self.loaders = []
        for i in range(procs):
            conns = concurrency // procs + (1 if i < concurrency % procs else 0)
            per_rate = None if rate is None else rate / procs
            offset = 0.0 if rate is None else i / rate  # interleave the processes' slots
            p = ctx.Process(
                target=_load_process,
                args=(port, headers, conns, start, end, per_rate, offset, out),
                daemon=True,
            )
            p.start()
            self.loaders.append(p)
        results = []
        deadline = end + 3 * SOCKET_TIMEOUT
        for _ in self.loaders:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{name}: load processes did not finish")
            try:
                results.append(out.get(timeout=remaining))
            except Exception as exc:  # queue.Empty
                raise BenchError(f"{name}: load processes did not finish") from exc
        for p in self.loaders:
            p.join(5)
        self.loaders = []
        sent = sum(r[0] for r in results)
        errors = sum(r[1] for r in results)
        lat = array("d")
        lags = array("d")
        for r in results:
            lat.frombytes(r[2])
            lags.frombytes(r[3])
        last = max(r[4] for r in results)
        elapsed = (last if rate is None else max(last, end)) - start
        if through_tollgate:
            self.tollgate_calls += sent
        phase = Phase(name, sent, errors, lat, lags, elapsed)
        print(phase.line(), flush=True)
        return phase

    def run(self):
        a = self.args
        self.setup()
        direct = (self.sim_port, {KEY_HEADER: self.team_key})
        proxied = (self.port, {KEY_HEADER: self.key})
        print(
            f"load: {a.concurrency} keep-alive connections in "
            f"{max(1, min(a.processes, a.concurrency))} processes, {a.duration:g} s per phase, "
            f"GET {PATH}\n",
            flush=True,
        )
        phase_a = self.run_load("A  direct, closed loop", *direct, a.duration)
        warm = self.run_load(
            "   warm-up through Tollgate", *proxied, min(2.0, a.duration), through_tollgate=True
        )
        cpu_before = _cpu_seconds(self.tollgate_pid)
        phase_b = self.run_load(
            "B  Tollgate, closed loop", *proxied, a.duration, through_tollgate=True
        )
        self.cpu_per_call = (_cpu_seconds(self.tollgate_pid) - cpu_before) / max(1, phase_b.sent)
        rate = max(1.0, phase_b.rps / 2)
        print(f"\nphase C: open loop at {rate:.0f} req/s (half of B's top rate)", flush=True)
        c_proxied = self.run_load(
            "C  Tollgate, paced", *proxied, a.duration, rate=rate, through_tollgate=True
        )
        c_direct = self.run_load("C  direct, paced", *direct, a.duration, rate=rate)
        rows, total_rows = self.count_rows()
        self.report(phase_a, warm, phase_b, c_proxied, c_direct, rate, rows, total_rows)

    def report(self, phase_a, warm, phase_b, c_proxied, c_direct, rate, rows, total_rows):
        add50 = c_proxied.pct(50) - c_direct.pct(50)
        add99 = c_proxied.pct(99) - c_direct.pct(99)
        errors = sum(p.errors for p in (phase_a, warm, phase_b, c_proxied, c_direct))
        calls = self.tollgate_calls

        def mark(ok):
            return "ok" if ok else "MISSED"

        lines = [
            "",
            "=" * 78,
            "Tollgate proxy benchmark",
            f"  backend            {self.backend}",
            f"  gunicorn           {self.workers} {self.worker_class} workers"
            + (f" x {self.threads} threads" if self.worker_class == "gthread" else ""),
            f"  load               {self.args.concurrency} connections, "
            f"{self.args.duration:g} s per phase, {os.cpu_count()} CPUs shared by all",
            "",
            f"  {'figure':<34}{'measured':>16}   {'target':<12}",
            f"  {'proxied requests/s (B)':<34}{phase_b.rps:>16.0f}   "
            f"{'>= ' + str(TARGET_RPS):<12}{mark(phase_b.rps >= TARGET_RPS)}",
            f"  {'direct requests/s (A)':<34}{phase_a.rps:>16.0f}   {'(reference)':<12}",
            f"  {'Tollgate CPU per call (B)':<34}{self.cpu_per_call * 1000:>13.2f} ms   "
            f"{'(reference)':<12}",
            f"  {f'added latency p50 @ {rate:.0f}/s':<34}{add50:>13.2f} ms   "
            f"{f'<= {TARGET_P50_MS:g} ms':<12}{mark(add50 <= TARGET_P50_MS)}",
            f"  {f'added latency p99 @ {rate:.0f}/s':<34}{add99:>13.2f} ms   "
            f"{f'<= {TARGET_P99_MS:g} ms':<12}{mark(add99 <= TARGET_P99_MS)}",
            f"    (Tollgate p50/p99 {c_proxied.pct(50):.2f}/{c_proxied.pct(99):.2f} ms, "
            f"direct p50/p99 {c_direct.pct(50):.2f}/{c_direct.pct(99):.2f} ms)",
            f"  {'errors (all phases)':<34}{errors:>16}   {'0':<12}{mark(errors == 0)}",
            f"  {'usage rows / calls via Tollgate':<34}{f'{rows} / {calls}':>16}   "
            f"{'equal':<12}{mark(rows == calls)} ({'equal' if rows == calls else 'NOT equal'})",
        ]
        if total_rows != rows:
            lines.append(f"    ({total_rows} Call rows in the database in all)")
        lines.append("=" * 78)
        print("\n".join(lines), flush=True)


def _positive(cast):
    def parse(text):
        value = cast(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=_positive(float),
        default=float(os.environ.get("DURATION") or 10),
        help="seconds per phase (env DURATION, default 10)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive(int),
        default=int(os.environ.get("CONCURRENCY") or 8),
        help="keep-alive connections (env CONCURRENCY, default 8)",
    )
    parser.add_argument(
        "--processes",
        type=_positive(int),
        default=int(os.environ.get("LOAD_PROCESSES") or 2),
        help="load generator processes (env LOAD_PROCESSES, default 2)",
    )
    args = parser.parse_args(argv)

    def _on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    # Explicit, so Ctrl-C works even when started with SIGINT ignored (e.g. from `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    bench = Bench(args)

    # Whatever happens, the run ends: phases are bounded, and this alarm is the backstop.
    def _on_alarm(signum, frame):
        raise BenchError("timed out")

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(4 * args.duration + 180))
    try:
        bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

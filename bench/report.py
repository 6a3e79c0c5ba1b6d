"""Benchmark the usage report, its CSV export and the export command on a big call log.

    make bench-report                           # or: .venv/bin/python bench/report.py
    make bench-report SIZES=100000,1000000      # or: bench/report.py --sizes 100000,1000000

For each size (default 1 million and 10 million logged calls), on a database of its own:

- a throwaway DATA_DIR with a fresh SQLite database, or, when DATABASE_URL points at
  PostgreSQL, a scratch database created beside it and dropped afterwards;
- ``migrate``, then ``seedusage --calls SIZE --days 365`` (timed), a staff user and a
  session for it, and Tollgate started the way ``make run`` starts it (gunicorn,
  ``dashboard.gunicorn_conf``) on 127.0.0.1;
- (a) the report page ``/usage/``, the history page
  ``/usage/history/?timeframe=this_month`` and the admin's call list ``/admin/usage/call/``
  (target 300 ms): 3 warm-ups, then 30 timed GETs each over one
  keep-alive connection (time to the last byte, at the client, over loopback);
- (b) the CSV export ``/usage/export.csv`` over the whole seeded range at
  ``granularity=call`` and ``granularity=day``, streamed and counted: rows per second;
- (c) ``manage.py exportusage --granularity call`` over the same range into /dev/null, in a
  process of its own: its peak resident memory (``wait4``'s ru_maxrss) and duration;
- (d) the proxy's rate (``/api/v3/ping`` on 8 connections) alone, then while
  ``prunecalls --days 1`` deletes all but the last day of the log beside it.

A page or command that does not exist (yet) prints "not available". Targets are printed
beside the figures; a missed target never fails the run, only a crash does. Every step
has a time limit (an export is cut off and measured so far), every child process is
killed and every database and directory removed at the end of its size.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import (  # noqa: E402
    GUNICORN,
    HOST,
    PYTHON,
    ROOT,
    BenchError,
    Harness,
    closed_loop,
    free_port,
)

DAYS = 365
STAFF = "bench-staff"

PAGES = (
    ("report page", "/usage/"),
    ("history page", "/usage/history/?timeframe=this_month"),
    ("admin call list", "/admin/usage/call/"),
)
WARMUPS = 3
SAMPLES = 30
PAGE_BUDGET = 120.0  # seconds per page, warm-ups included; fewer samples when over
EXPORT_BUDGET = 180.0  # seconds per CSV download; cut off and measured so far when over
COMMAND_BUDGET = 240.0  # seconds for exportusage

TARGET_PAGE_P95_MS = 200.0
# The admin's call list reads the log itself (the console's pages read counters).
PAGE_TARGETS_MS = {"admin call list": 300.0}
TARGET_P95_GROWTH = 1.5
TARGET_CALL_ROWS_S = 100_000
TARGET_PEAK_MB = 150.0
TARGET_PRUNE_SHARE = 0.90  # of the proxy's rate kept while prunecalls runs
PRUNE_BUDGET = 600.0  # seconds: a longer prune is measured so far, then stopped
FLAT_GROWTH = 1.25  # "flat": the largest size's peak within 25% of the smallest's


def _seed_timeout(size: int) -> float:
    return 180 + size / 10_000


def _pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    index = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[index]


class Unavailable(Exception):
    """The page or command does not exist (yet)."""


# --- one database: set up, seed, serve, measure, tear down -----------------------------------


class Run(Harness):
    def __init__(self, size: int, base_env: dict, pg_url: str | None):
        self.size = size
        tmp = Path(tempfile.mkdtemp(prefix=f"tollgate-bench-report-{size}-"))
        super().__init__(tmp, dict(base_env))
        self.port = free_port()
        self.env.update(
            DATA_DIR=str(self.tmp / "data"), HOST=HOST, PORT=str(self.port), PYTHONUNBUFFERED="1"
        )
        self.pg_url = pg_url
        self.scratch = None
        self.results: dict = {"size": size}

    # --- processes ---

    def cleanup(self):
        self.stop_children()
        if self.scratch is not None:
            try:
                _drop_database(self.pg_url, self.scratch)
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                print(f"warning: could not drop database {self.scratch}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- steps ---

    def setup(self):
        if self.pg_url:
            self.scratch = f"tollgate_bench_report_{secrets.token_hex(4)}"
            _create_database(self.pg_url, self.scratch)
            self.env["DATABASE_URL"] = _with_database(self.pg_url, self.scratch)
        t0 = time.monotonic()
        self.manage("migrate", "--noinput", "-v", "0")
        print(f"  migrated a fresh database in {time.monotonic() - t0:.1f} s", flush=True)

    def seed(self):
        t0 = time.monotonic()
        out = self.manage(
            "seedusage",
            "--calls",
            str(self.size),
            "--days",
            str(DAYS),
            timeout=_seed_timeout(self.size),
        )
        wall = time.monotonic() - t0
        line = next((x for x in out.splitlines() if "calls inserted" in x), out.strip())
        print(f"  {line}", flush=True)
        match = re.search(r"inserted in ([\d.]+) s", line)
        self.results["seed_s"] = float(match.group(1)) if match else wall
        self.results["seed_wall_s"] = wall
        if not self.pg_url:
            size = sum(p.stat().st_size for p in (self.tmp / "data").glob("tollgate.sqlite3*"))
            self.results["db_mb"] = size / 2**20

    def login(self):
        out = self.shell(
            "from django.conf import settings\n"
            "from django.contrib.auth import get_user_model\n"
            "from django.test import Client\n"
            f"u, _ = get_user_model().objects.get_or_create(username={STAFF!r})\n"
            "u.is_staff = u.is_superuser = True\n"
            "u.save()\n"
            "c = Client()\n"
            "c.force_login(u)\n"
            "name = settings.SESSION_COOKIE_NAME\n"
            "print('=' + name + '=' + c.cookies[name].value)\n"
        )
        self.cookie = out.strip()

    def serve(self):
        t0 = time.monotonic()
        proc = self.spawn(
            [GUNICORN, "-c", "python:dashboard.gunicorn_conf", "dashboard.wsgi"], "gunicorn"
        )
        self.wait_http(proc, self.port, "/accounts/login/", {}, "gunicorn", want=200, timeout=60)
        print(
            f"  Tollgate (gunicorn) on {HOST}:{self.port}, up after {time.monotonic() - t0:.1f} s",
            flush=True,
        )

    def headers(self):
        return {"Cookie": self.cookie, "Accept-Encoding": "identity"}

    def measure_page(self, name, path):
        """Warm-ups, then timed GETs: {"p50": ms, "p95": ms, "n": samples} or a reason."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        times = []
        started = time.monotonic()
        try:
            for i in range(WARMUPS + SAMPLES):
                if time.monotonic() - started > PAGE_BUDGET:
                    break
                t0 = time.perf_counter()
                conn.request("GET", path, headers=self.headers())
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - t0
                if response.status == 404:
                    raise Unavailable("404")
                if response.status != 200:
                    return {"error": f"HTTP {response.status}", "detail": body[:200]}
                if i == 0:
                    cold = elapsed * 1000  # the first view also sums closed days once
                if i >= WARMUPS:
                    times.append(elapsed * 1000)
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        except (OSError, http.client.HTTPException) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            conn.close()
        if not times:
            return {"error": f"no sample within {PAGE_BUDGET:.0f} s"}
        result = {"p50": _pct(times, 50), "p95": _pct(times, 95), "n": len(times), "cold": cold}
        print(
            f"  {name:<13} {path:<40} p50 {result['p50']:8.1f} ms   p95 {result['p95']:8.1f} ms"
            f"   ({len(times)} requests; the first, cold: {cold:.0f} ms)",
            flush=True,
        )
        return result

    def export_range(self):
        now = datetime.now(UTC)
        return (now - timedelta(days=DAYS)).date().isoformat(), now.date().isoformat()

    def measure_csv(self, granularity):
        """Stream one CSV download: rows per second (cut off after EXPORT_BUDGET)."""
        start, end = self.export_range()
        path = f"/usage/export.csv?start={start}&end={end}&granularity={granularity}"
        conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            t0 = time.perf_counter()
            conn.request("GET", path, headers=self.headers())
            response = conn.getresponse()
            if response.status == 404:
                raise Unavailable("404")
            if response.status != 200:
                return {"error": f"HTTP {response.status}", "detail": response.read(300)}
            first = None
            newlines = size = 0
            cut = False
            while True:
                chunk = response.read1(256 * 1024)
                if not chunk:
                    break
                if first is None:
                    first = time.perf_counter() - t0
                newlines += chunk.count(b"\n")
                size += len(chunk)
                if time.perf_counter() - t0 > EXPORT_BUDGET:
                    cut = True
                    break
            elapsed = time.perf_counter() - t0
        except (OSError, http.client.HTTPException) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            conn.close()
        rows = max(0, newlines - 1)  # the header line
        result = {
            "rows": rows,
            "seconds": elapsed,
            "rows_s": rows / elapsed if elapsed > 0 else 0.0,
            "mb": size / 2**20,
            "first_byte_s": first or elapsed,
            "cut": cut,
        }
        note = f" (cut off after {EXPORT_BUDGET:.0f} s)" if cut else ""
        print(
            f"  CSV {granularity:<4} {rows:>10} rows {result['mb']:8.1f} MB in {elapsed:6.1f} s: "
            f"{result['rows_s']:>10,.0f} rows/s, first byte after "
            f"{result['first_byte_s'] * 1000:.0f} ms{note}",
            flush=True,
        )
        return result

    def measure_command(self):
        """exportusage --granularity call > /dev/null in its own process: peak RSS, time."""
        probe = subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "help", "exportusage"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if probe.returncode != 0:
            raise Unavailable("no exportusage command")
        start, end = self.export_range()
        err_path = self.tmp / "exportusage.err"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(  # noqa: S603
                [
                    PYTHON,
                    "manage.py",
                    "exportusage",
                    "--start",
                    start,
                    "--end",
                    end,
                    "--granularity",
                    "call",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children.append(proc)
        cut = threading.Event()

        def _stop():
            cut.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(COMMAND_BUDGET, _stop)
        t0 = time.perf_counter()
        timer.start()
        try:
            # wait4: the resource usage of this child alone (RUSAGE_CHILDREN would also
            # count seedusage, which ran earlier).
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
        if proc.returncode != 0 and not cut.is_set():
            tail = err_path.read_text(errors="replace")[-500:]
            return {"error": f"exit {proc.returncode}", "detail": tail, "peak_mb": peak_mb}
        result = {"peak_mb": peak_mb, "seconds": elapsed, "cut": cut.is_set()}
        note = f" (stopped after {COMMAND_BUDGET:.0f} s)" if cut.is_set() else ""
        print(
            f"  exportusage --granularity call: peak RSS {peak_mb:.1f} MB, {elapsed:.1f} s{note}",
            flush=True,
        )
        return result

    def run(self):
        print(f"\n--- {self.size:,} calls over {DAYS} days ---", flush=True)
        self.setup()
        self.seed()
        self.login()
        self.serve()
        for name, path in PAGES:
            self.results[name] = self._available(self.measure_page, name, path, label=name)
        for granularity in ("call", "day"):
            self.results[f"csv {granularity}"] = self._available(
                self.measure_csv, granularity, label=f"CSV export, granularity={granularity}"
            )
        self.results["command"] = self._available(self.measure_command, label="exportusage")
        self.results["prune"] = self._available(self.measure_prune, label="prune under load")
        return self.results

    def proxy_rate(self, key: str, seconds: float, stop=None) -> float:
        """/api/v3/ping (answered by Tollgate: two write transactions a call) on 8
        keep-alive connections in a process of their own: calls per second."""
        queue = multiprocessing.Queue()
        args = (self.port, "/api/v3/ping", {"x-cg-pro-api-key": key}, seconds, 8, queue)
        load = multiprocessing.Process(target=closed_loop, args=args)
        load.start()
        calls = queue.get()
        load.join()
        return calls / seconds

    def measure_prune(self):
        """The proxy's rate alone, then while ``prunecalls --days 1`` deletes the seeded
        log (all but its last day) beside it."""
        self.manage("setplan", "--rate-limit", "1000000", "--monthly-credits", "100000000")
        key = self.manage("createapikey", "--owner", STAFF, "--label", "prune load").strip()
        alone = self.proxy_rate(key, 10)
        before = int(self.shell("from usage.models import Call\nprint('=', Call.objects.count())"))
        t0 = time.monotonic()
        prune = self.spawn([PYTHON, "manage.py", "prunecalls", "--days", "1"], "prunecalls")
        rates = []
        while prune.poll() is None and time.monotonic() - t0 < PRUNE_BUDGET:
            rates.append(self.proxy_rate(key, 5))
        seconds = time.monotonic() - t0
        cut = prune.poll() is None
        if cut:
            os.killpg(prune.pid, signal.SIGKILL)
            prune.wait()
        elif prune.returncode != 0:
            return {"error": f"exit {prune.returncode}", "detail": self.log_tail("prunecalls")}
        after = int(self.shell("from usage.models import Call\nprint('=', Call.objects.count())"))
        during = sum(rates) / len(rates) if rates else alone
        deleted = before - after
        print(
            f"  prunecalls: {deleted:,} rows in {seconds:.0f} s; proxy {alone:,.0f}/s alone, "
            f"{during:,.0f}/s during",
            flush=True,
        )
        return {
            "alone": alone,
            "during": during,
            "deleted": deleted,
            "seconds": seconds,
            "cut": cut,
        }

    def _available(self, measure, *args, label):
        try:
            result = measure(*args)
        except Unavailable as exc:
            print(f"  {label}: not available ({exc})", flush=True)
            return None
        if "error" in result:
            detail = result.get("detail")
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            print(f"  {label}: {result['error']} {detail or ''}".rstrip(), flush=True)
        return result


# --- PostgreSQL scratch databases ----------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_connection(url: str):
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


def _create_database(url: str, name: str) -> None:
    with _admin_connection(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(url: str, name: str) -> None:
    with _admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the table ---------------------------------------------------------------------------------


def _cell(result, fmt):
    if result is None:
        return "not available"
    if "error" in result:
        return result["error"]
    return fmt(result)


def report(results, backend):
    sizes = [r["size"] for r in results]
    width = 22

    def row(label, cells, target="", verdict=""):
        text = f"  {label:<30}" + "".join(f"{c:>{width}}" for c in cells)
        return f"{text}   {target:<22}{verdict}".rstrip()

    def mark(values, ok):
        values = [v for v in values if v is not None]
        if not values:
            return "n/a"
        return "ok" if all(ok(v) for v in values) else "MISSED"

    lines = [
        "",
        "=" * 100,
        "Tollgate usage report benchmark",
        f"  backend    {backend}",
        f"  gunicorn   {os.environ.get('WEB_WORKERS') or 2} workers x "
        f"{os.environ.get('WEB_THREADS') or 4} threads; pages: {WARMUPS} warm-ups + "
        f"{SAMPLES} GETs, time to last byte at the client",
        f"  machine    {os.cpu_count()} CPUs",
        "",
        row("figure", [f"{s:,} calls" for s in sizes], "target"),
        row(
            "seeding (seedusage)",
            [f"{r['size'] / r['seed_s']:,.0f} calls/s" for r in results],
            "(reference)",
        ),
        row("  seconds", [f"{r['seed_s']:.1f} s" for r in results]),
    ]
    if any("db_mb" in r for r in results):
        lines.append(row("  database on disk", [f"{r.get('db_mb', 0):,.0f} MB" for r in results]))
    for name, _ in PAGES:
        page = [r.get(name) for r in results]
        p95s = [p["p95"] for p in page if p and "p95" in p]
        target_ms = PAGE_TARGETS_MS.get(name, TARGET_PAGE_P95_MS)
        lines.append(
            row(
                f"{name} p50 / p95",
                [_cell(p, lambda p: f"{p['p50']:.0f} / {p['p95']:.0f} ms") for p in page],
                f"p95 <= {target_ms:.0f} ms",
                mark(p95s, lambda v, t=target_ms: v <= t) if p95s else "n/a",
            )
        )
        lines.append(
            row(
                "  first view (fills day cache)",
                [_cell(p, lambda p: f"{p['cold']:.0f} ms") for p in page],
                "(reference)",
            )
        )
        if len(results) > 1:
            first, last = page[0], page[-1]
            if first and last and "p95" in first and "p95" in last and first["p95"] > 0:
                growth = last["p95"] / first["p95"]
                lines.append(
                    row(
                        f"  p95 at {sizes[-1]:,} / at {sizes[0]:,}",
                        [""] * (len(sizes) - 1) + [f"x{growth:.2f}"],
                        f"<= x{TARGET_P95_GROWTH:g}",
                        mark([growth], lambda v: v <= TARGET_P95_GROWTH),
                    )
                )
    for granularity in ("call", "day"):
        csvs = [r.get(f"csv {granularity}") for r in results]
        rates = [c["rows_s"] for c in csvs if c and "rows_s" in c]
        target = f">= {TARGET_CALL_ROWS_S:,} rows/s" if granularity == "call" else "(reference)"
        verdict = mark(rates, lambda v: v >= TARGET_CALL_ROWS_S) if granularity == "call" else ""
        lines.append(
            row(
                f"CSV export, {granularity}",
                [
                    _cell(c, lambda c: f"{c['rows_s']:,.0f} rows/s" + ("*" if c["cut"] else ""))
                    for c in csvs
                ],
                target,
                verdict if rates or granularity != "call" else "n/a",
            )
        )
        lines.append(
            row(
                "  rows, seconds",
                [_cell(c, lambda c: f"{c['rows']:,} in {c['seconds']:.1f} s") for c in csvs],
            )
        )
    commands = [r.get("command") for r in results]
    peaks = [c["peak_mb"] for c in commands if c and "error" not in c]
    lines.append(
        row(
            "exportusage peak RSS",
            [
                _cell(c, lambda c: f"{c['peak_mb']:.0f} MB" + ("*" if c["cut"] else ""))
                for c in commands
            ],
            f"< {TARGET_PEAK_MB:.0f} MB",
            mark(peaks, lambda v: v < TARGET_PEAK_MB),
        )
    )
    lines.append(
        row(
            "  seconds",
            [_cell(c, lambda c: f"{c['seconds']:.0f} s") for c in commands],
        )
    )
    if len(peaks) == len(results) and len(peaks) > 1:
        growth = peaks[-1] / peaks[0]
        lines.append(
            row(
                "  flat across sizes",
                [""] * (len(sizes) - 1) + [f"x{growth:.2f}"],
                f"<= x{FLAT_GROWTH:g}",
                mark([growth], lambda v: v <= FLAT_GROWTH),
            )
        )
    prunes = [r.get("prune") for r in results]
    shares = [p["during"] / p["alone"] for p in prunes if p and "error" not in p and p["alone"]]
    lines.append(
        row(
            "proxy rate during prunecalls",
            [
                _cell(p, lambda p: f"{p['during'] / p['alone']:.0%} of {p['alone']:,.0f}/s")
                for p in prunes
            ],
            f">= {TARGET_PRUNE_SHARE:.0%}",
            mark(shares, lambda v: v >= TARGET_PRUNE_SHARE),
        )
    )
    lines.append(
        row(
            "  rows pruned, seconds",
            [
                _cell(
                    p,
                    lambda p: (
                        f"{p['deleted']:,} in {p['seconds']:.0f} s" + ("*" if p["cut"] else "")
                    ),
                )
                for p in prunes
            ],
        )
    )
    if any(
        (r.get(k) or {}).get("cut")
        for r in results
        for k in ("csv call", "csv day", "command", "prune")
    ):
        lines.append(
            f"  * cut off at the time limit ({EXPORT_BUDGET:.0f} s per download, "
            f"{COMMAND_BUDGET:.0f} s for the command): measured so far"
        )
    lines.append("=" * 100)
    print("\n".join(lines), flush=True)


# --- main ------------------------------------------------------------------------------------


def _cleanup(run: Run) -> None:
    # A second Ctrl-C must not cut the cleanup short and leave a server or a database.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run.cleanup()
    finally:
        signal.signal(signal.SIGINT, previous)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes(os.environ.get("SIZES") or "1000000,10000000"),
        help="logged calls, comma-separated (env SIZES, default 1000000,10000000)",
    )
    args = parser.parse_args(argv)

    base_env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE",):
        base_env.pop(name, None)
    url = base_env.get("DATABASE_URL") or ""
    pg_url = url if url.startswith(("postgres://", "postgresql://")) else None
    if pg_url:
        backend = "PostgreSQL (a scratch database per size beside DATABASE_URL's)"
    else:
        base_env.pop("DATABASE_URL", None)
        backend = "SQLite, throwaway DATA_DIR per size"
        if url:
            backend += " (DATABASE_URL is not PostgreSQL: ignored)"
    print(f"backend: {backend}; sizes: {', '.join(f'{s:,}' for s in args.sizes)}", flush=True)

    def _on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def _on_alarm(signum, frame):
        raise BenchError("timed out")

    # Whatever happens, the run ends: every step is bounded, and this alarm is the backstop.
    budget = sum(
        _seed_timeout(s) + 300 + 2 * PAGE_BUDGET + 2 * EXPORT_BUDGET + COMMAND_BUDGET
        for s in args.sizes
    )
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(budget))
    results = []
    run = None
    try:
        for size in args.sizes:
            run = Run(size, base_env, pg_url)
            results.append(run.run())
            # Before the next size: 10 million calls are a few GB of SQLite.
            _cleanup(run)
            run = None
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if run is not None:
            _cleanup(run)
        if results:
            report(results, backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())

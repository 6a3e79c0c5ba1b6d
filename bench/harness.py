"""What the benchmarks share: manage.py calls, child servers and their cleanup.

Every child gets a process group of its own, so it is killed as a whole at the end and a
Ctrl-C at the terminal reaches only the benchmark, which then cleans up in order.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
HOST = "127.0.0.1"


class BenchError(Exception):
    """A step failed: printed as one message, the run stops and cleans up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def closed_loop(port: int, path: str, headers: dict, seconds: float, connections: int, queue):
    """Call ``path`` as fast as answers come for ``seconds``, on ``connections`` keep-alive
    connections (a thread each, reconnecting when one breaks); puts the calls made on
    ``queue``. Meant as a multiprocessing target, so the load has a process of its own."""
    until = time.monotonic() + seconds
    counts = []

    def loop():
        conn, n = http.client.HTTPConnection(HOST, port, timeout=30), 0
        while time.monotonic() < until:
            try:
                conn.request("GET", path, headers=headers)
                conn.getresponse().read()
                n += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.close()
        counts.append(n)

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(sum(counts))


class Harness:
    def __init__(self, tmp: Path, env: dict):
        self.tmp = tmp
        self.env = env
        self.children: list[subprocess.Popen] = []

    def manage(self, *argv, timeout=120.0) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
                [PYTHON, "manage.py", *argv],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"manage.py {argv[0]} took longer than {timeout:.0f} s") from exc
        if done.returncode != 0:
            raise BenchError(
                f"manage.py {' '.join(argv[:2])} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return done.stdout

    def shell(self, code: str) -> str:
        """Run ORM code; returns what it printed on lines starting with "=" (marker cut)."""
        out = self.manage("shell", "--no-imports", "-v", "0", "-c", code)
        return " ".join(line[1:] for line in out.splitlines() if line.startswith("="))

    def spawn(self, argv, name: str) -> subprocess.Popen:
        """Start a server in the background; its output goes to ``<tmp>/<name>.log``."""
        with open(self.tmp / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(  # noqa: S603
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed as a whole
            )
        self.children.append(proc)
        return proc

    def log_tail(self, name: str) -> str:
        try:
            text = (self.tmp / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-30:])

    def wait_http(self, proc, port, path, headers, name, want=None, timeout=30.0) -> None:
        """Wait until ``proc`` answers ``path`` (with status ``want``, if given)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                conn.request("GET", path, headers=headers)
                status = conn.getresponse().status
                conn.close()
                if want is None or status == want:
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise BenchError(
            f"{name} did not answer within {timeout:.0f} s ({last}):\n{self.log_tail(name)}"
        )

    def stop_children(self) -> None:
        """SIGTERM every child's process group, then SIGKILL what is still there after 8 s."""
        for proc in self.children:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 8
        for proc in self.children:
            if proc.returncode is not None:
                continue
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)

    def run_steps(self, name: str, *steps) -> int:
        """Run ``steps`` in order; a BenchError is one line on stderr and exit status 1.
        Children and the throwaway directory go in any case."""
        try:
            for step in steps:
                step()
        except BenchError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        finally:
            self.stop_children()
            shutil.rmtree(self.tmp, ignore_errors=True)
        return 0

    def start_behind_upstream(self, *, port: int, sim_port: int, team_key: str, user: str):
        """Migrate, a user with a key, a plan no limit binds, the simulated upstream and
        Tollgate (gunicorn as make run starts it). Returns (raw key, gunicorn process)."""
        self.manage("migrate", "--noinput", "-v", "0")
        self.shell(
            "from django.contrib.auth.models import User\n"
            f"User.objects.filter(username='{user}').exists() or "
            f"User.objects.create_user('{user}')"
        )
        self.manage("setplan", "--rate-limit", "1000000", "--monthly-credits", "100000000")
        label = f"{user} {os.getpid()} {time.time():.0f}"
        key = self.manage("createapikey", "--owner", user, "--label", label).strip()
        sim_argv = [PYTHON, "-m", "devtools.simulator", "--host", HOST, "--port", str(sim_port)]
        sim = self.spawn([*sim_argv, "--api-key", team_key], "upstream")
        argv = [GUNICORN, "-c", "python:dashboard.gunicorn_conf", "dashboard.wsgi"]
        tollgate = self.spawn(argv, "tollgate")
        headers = {"x-cg-pro-api-key": team_key}
        self.wait_http(sim, sim_port, "/api/v3/ping", headers, "upstream", want=200)
        # A page outside /api/v3/, so waiting leaves no usage row behind.
        self.wait_http(tollgate, port, "/accounts/login/", {}, "tollgate", want=200)
        return key, tollgate


def print_figures(title: str, rows: list[tuple[str, str, str]], width: int = 40) -> None:
    """The figures beside their targets, as every benchmark prints them."""
    print("=" * (width + 50))
    print(title)
    print(f"  {'figure':{width}} {'measured':>26}   target")
    for name, measured, target in rows:
        print(f"  {name:{width}} {measured:>26}   {target}")
    print("=" * (width + 50))

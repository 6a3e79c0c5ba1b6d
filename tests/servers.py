"""Tollgate as ``make run`` starts it (gunicorn worker processes), for tests that need real
processes: concurrency across workers, killed workers, slow clients, long request lines.

Each server has a database of its own (a SQLite file in a temporary folder, or a scratch
PostgreSQL database beside DATABASE_URL), and Redis when asked.
"""

import http.client
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import TEAM_KEY, free_port

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))


class TollgateServer:
    """A Tollgate under gunicorn on a database of its own, plus a key to hammer it with."""

    def __init__(
        self,
        backend: str,
        redis_url: str,
        tmp_path: Path,
        upstream_url: str,
        *,
        beside: "TollgateServer | None" = None,
        **env: str,
    ):
        """``beside``: a second instance on the first one's database and Redis (a team
        that runs several Tollgates behind a load balancer)."""
        self.tmp_path = tmp_path
        self.port = free_port()
        self.database = None
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DATA_DIR": str(tmp_path / "data"),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "WEB_WORKERS": "3",
            "WEB_THREADS": "4",
            "UPSTREAM_URL": upstream_url,
            "UPSTREAM_API_KEY": TEAM_KEY,
            **env,
        }
        self.process = None
        if beside is not None:
            for name in ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX"):
                if name in beside.env:
                    self.env[name] = beside.env[name]
            return
        if backend == "postgres":
            self.database = f"tollgate_conc_{uuid.uuid4().hex[:12]}"
            self._admin_sql(f'CREATE DATABASE "{self.database}"')
            self.env["DATABASE_URL"] = (
                urlsplit(DATABASE_URL)._replace(path="/" + self.database).geturl()
            )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["REDIS_PREFIX"] = f"tollgate-conc-{uuid.uuid4().hex}"
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage(
            "shell",
            "-v",
            "0",
            "-c",
            "from django.contrib.auth.models import User; User.objects.create_user('hammer')",
        )
        self.manage("setplan", "--rate-limit", "100000", "--monthly-credits", "1000000")

    def _admin_sql(self, sql: str) -> None:
        import psycopg

        parts = urlsplit(DATABASE_URL)
        admin_url = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def manage(self, *args) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def key(self, label: str, *extra: str, rate=None, credits=None) -> str:
        """A new key of hammer's; ``extra``: more createapikey options (--allow-ips ...)."""
        args = ["createapikey", "--owner", "hammer", "--label", label, *extra]
        if rate:
            args += ["--rate-limit", str(rate)]
        if credits:
            args += ["--monthly-credits", str(credits)]
        return self.manage(*args).strip()

    @property
    def host(self) -> str:
        """The address it listens on, as a socket connects to it ("[::1]" -> "::1")."""
        return self.env["HOST"].strip("[]")

    def start(self) -> None:
        self.log = open(self.tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:dashboard.gunicorn_conf",
                "dashboard.wsgi",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call(self.port, "/api/v3/ping", None, host=self.host) == 401:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("Tollgate did not start:\n" + self.log_text())

    def log_text(self) -> str:
        self.log.flush()
        return (self.tmp_path / "gunicorn.log").read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5) -> bool:
        # The worker writes its access line after the answer has gone out.
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()
        if self.database:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def call(
    port: int, path: str, raw_key: str | None, via: str = "header", host: str = "127.0.0.1"
) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        headers = {}
        if raw_key and via == "header":
            headers["x-cg-pro-api-key"] = raw_key
        elif raw_key:
            path += ("&" if "?" in path else "?") + f"x_cg_pro_api_key={raw_key}"
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()

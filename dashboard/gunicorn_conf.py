"""gunicorn settings for ``make run``: event-driven workers, no secrets in the access log.

gevent workers serve each connection in a greenlet: a slow client or a slow upstream call
holds a greenlet (a few KB), never a thread that others wait for, so slow clients and a
slow CoinGecko cannot stop the console or other keys' calls. WEB_WORKER_CLASS=gthread
brings back threaded workers (WEB_THREADS each), for comparison or a platform without
gevent.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from dashboard.env import SettingsError, env_bool, env_int, env_str

try:
    # make run sets it: the alert sender runs beside the web server and stops with it.
    sendalerts = env_bool("SENDALERTS", False)
    port = env_int("PORT", 8000, minimum=1, maximum=65535)
    workers = env_int("WEB_WORKERS", 2, minimum=1, maximum=64)
    threads = env_int("WEB_THREADS", 4, minimum=1, maximum=64)
    worker_connections = env_int("WEB_CONNECTIONS", 1000, minimum=1, maximum=100000)
    worker_class = env_str("WEB_WORKER_CLASS") or "gevent"
    if worker_class not in ("gevent", "gthread"):
        raise SettingsError(f"WEB_WORKER_CLASS={worker_class!r}: use gevent or gthread")
except SettingsError as exc:
    sys.exit(f"tollgate: configuration error: {exc}")

bind = f"{env_str('HOST') or '127.0.0.1'}:{port}"
timeout = 60
# gevent: a client has this long to send a request's headers (and an idle keep-alive
# connection is closed after it), so a connection dribbling headers, or sending nothing,
# is closed within seconds instead of holding anything.
keepalive = 5
# The longest request line gunicorn allows (its default is half): a long ids= list must
# pass. Longer lines get gunicorn's own 400 before Tollgate sees them (README: limits).
limit_request_line = 8190
graceful_timeout = 20
# gunicorn 27's control socket lives at one path per user (~/.gunicorn/gunicorn.ctl), so
# several instances (tests, make bench, make demo beside make run) would take it from
# each other. Tollgate doesn't use it.
control_socket_disable = True
accesslog = "-"
# %(U)s is the path without its query string: clients may send their key as the query
# parameter x_cg_pro_api_key, and a key must never reach a log line.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# Console pages only: every proxied call already has its row in the usage log, and
# formatting an access line cost about as much CPU as the proxy's own database work.
logger_class = "dashboard.gunicorn_logging.ConsoleAccessLogger"


_metrics_dir_made = None


def on_starting(server):
    # prometheus-client's multiprocess mode: every worker writes its figures to files in
    # this folder and /metrics adds them up. It must be set before a worker imports the
    # client (workers inherit it), one folder per server, and empty at the start, or the
    # last run's counts would be added to this one's.
    global _metrics_dir_made
    given = env_str("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="tollgate-metrics-"))
        _metrics_dir_made = folder
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def child_exit(server, worker):
    # The worker's counters stay (they are the server's history); its live gauges go.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    # The app (and so Django) is loaded: move SQLite's WAL checkpoints to a background
    # thread, and settle calls that a killed worker left in flight.
    from usage.metering import checkpoint, housekeeping

    checkpoint.start()
    housekeeping.start()


_sender = None


def when_ready(server):
    global _sender
    if not sendalerts:
        return
    manage = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "manage.py")
    # --exit-with-parent: if gunicorn is killed outright, the sender notices and stops too.
    _sender = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, manage, "sendalerts", "--exit-with-parent"]
    )
    server.log.info("Started sendalerts (pid %s)", _sender.pid)


def on_exit(server):
    if _metrics_dir_made is not None:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
    if _sender is None or _sender.poll() is not None:
        return
    _sender.send_signal(signal.SIGTERM)
    try:
        _sender.wait(timeout=30)
    except (subprocess.TimeoutExpired, ChildProcessError):
        _sender.kill()

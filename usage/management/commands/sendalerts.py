"""The alert sender: a loop that detects crossed thresholds and sends what is due, and
prunes the call log once a day (CALL_LOG_RETENTION_DAYS, usage/metering/retention.py).

``make run`` starts it beside gunicorn (see dashboard/gunicorn_conf.py); in production
run exactly one or several, under a process manager: racing senders are safe (see
usage/alerts/delivery.py). SIGTERM or SIGINT stops it after the delivery in hand.
"""

import os
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from usage.alerts import heartbeat
from usage.alerts.delivery import alerts_run_once
from usage.metering import retention


class Command(BaseCommand):
    help = "Send call consumption alerts (email and webhook): a loop, or one pass with --once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between scans (default 5)"
        )
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--exit-with-parent",
            action="store_true",
            help="stop when the process that started this one is gone (used by make run)",
        )

    def handle(self, *args, interval, once, exit_with_parent, **options):
        if once:
            sent = alerts_run_once()
            self.stdout.write(f"sendalerts: {sent} sent")
            return
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        def stopping() -> bool:
            # Asked between deliveries too: a long queue of slow sends still beats.
            heartbeat.beat()
            return stop.is_set()

        parent = os.getppid()
        self.stdout.write(f"sendalerts: scanning every {interval:g}s (pid {os.getpid()})")
        self.stdout.flush()
        retention.prune_daily(stop)
        while not stop.is_set():
            if exit_with_parent and os.getppid() != parent:
                break
            close_old_connections()
            heartbeat.beat()  # /readyz: this host's sender is alive (usage/alerts/heartbeat.py)
            try:
                alerts_run_once(should_stop=stopping)
            except DatabaseError as exc:
                # The database restarting must not end the sender: try again next scan.
                self.stderr.write(f"sendalerts: database error: {exc}")
            stop.wait(interval)
        self.stdout.write("sendalerts: stopped")

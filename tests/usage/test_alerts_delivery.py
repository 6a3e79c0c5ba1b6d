"""Alerts over real transports: an SMTP server and a webhook receiver on loopback."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from tests.support import Inbox, free_port
from usage.alerts import delivery
from usage.models import PLAN_REF, AlertDelivery, MonthUsage

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
MONTH = NOW.date().replace(day=1)


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 5
    return settings


@pytest.fixture
def crossed(plan, staff):
    """The plan at 50 % of its credits this month, alerting carol (staff) and ops."""
    plan.monthly_credits = 4
    plan.thresholds = "50,100"
    plan.recipients = "ops@example.com"
    plan.save()
    MonthUsage.objects.create(key_ref=PLAN_REF, month=MONTH, credits_used=2)
    return plan


def start_smtp(port, inbox):
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


class TestSmtp:
    def test_smtp_down_then_up_delivers_each_email_once(self, crossed, smtp_settings, staff_client):
        inbox = Inbox()
        assert delivery.alerts_run_once(now=NOW) == 0  # nobody listening: connection refused
        pending = list(AlertDelivery.objects.values_list("state", "attempts", "next_attempt_at"))
        assert pending == [("pending", 1, NOW + timedelta(seconds=10))] * 2
        # Visible in the admin as waiting, with the reason.
        page = staff_client.get("/admin/usage/alertdelivery/?state__exact=pending")
        assert b"ops@example.com" in page.content and b"ConnectionRefusedError" in page.content

        controller = start_smtp(smtp_settings.EMAIL_PORT, inbox)
        try:
            assert delivery.alerts_run_once(now=NOW + timedelta(seconds=5)) == 0  # backing off
            assert inbox.messages == []
            assert delivery.alerts_run_once(now=NOW + timedelta(seconds=11)) == 2
            assert delivery.alerts_run_once(now=NOW + timedelta(seconds=60)) == 0
        finally:
            controller.stop()
        assert sorted(rcpt for rcpts, _ in inbox.messages for rcpt in rcpts) == [
            "carol@example.com",
            "ops@example.com",
        ]
        content = inbox.messages[0][1]
        assert "Subject: Tollgate: the Analyst plan has used 50%" in content
        assert "text/plain" in content and "text/html" in content
        assert set(AlertDelivery.objects.values_list("state", flat=True)) == {"sent"}

    def test_smtp_refusing_is_retried_with_growing_backoff_and_nothing_is_lost(
        self, crossed, smtp_settings
    ):
        inbox = Inbox()
        inbox.refusing = True
        controller = start_smtp(smtp_settings.EMAIL_PORT, inbox)
        try:
            delivery.alerts_run_once(now=NOW)
            delivery.alerts_run_once(now=NOW + timedelta(seconds=10))
            row = AlertDelivery.objects.filter(target="ops@example.com").get()
            assert (row.state, row.attempts) == ("pending", 2)
            assert row.next_attempt_at == NOW + timedelta(seconds=30)  # 10 s, then 20 s
            assert "451" in row.last_error
            inbox.refusing = False
            assert delivery.alerts_run_once(now=NOW + timedelta(seconds=30)) == 2
            assert delivery.alerts_run_once(now=NOW + timedelta(minutes=30)) == 0
        finally:
            controller.stop()
        assert len(inbox.messages) == 2


class Receiver(BaseHTTPRequestHandler):
    bodies: list
    statuses: list

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.bodies.append((self.headers["Content-Type"], self.rfile.read(length)))
        status = self.statuses.pop(0) if self.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    handler = type("Handler", (Receiver,), {"bodies": [], "statuses": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_port}/hooks/tollgate"
    yield handler
    server.shutdown()
    server.server_close()


class TestWebhook:
    def test_the_webhook_receives_one_slack_compatible_post(self, crossed, webhook, clock):
        crossed.webhook_url = webhook.url
        crossed.save()
        delivery.alerts_run_once(now=NOW)
        delivery.alerts_run_once(now=NOW + timedelta(minutes=1))
        assert len(webhook.bodies) == 1
        content_type, raw = webhook.bodies[0]
        body = json.loads(raw)
        assert content_type == "application/json"
        assert body["text"].startswith("Tollgate: the Analyst plan has used 50%")
        assert (body["threshold"], body["calls"], body["remaining"]) == (50, 2, 2)
        assert body["report_url"] == "http://127.0.0.1:8000/usage/"

    def test_a_failing_webhook_is_retried_once_it_answers(self, crossed, webhook):
        crossed.webhook_url = webhook.url
        crossed.save()
        webhook.statuses[:] = [500]
        delivery.alerts_run_once(now=NOW)
        row = AlertDelivery.objects.get(channel="webhook")
        assert (row.state, row.last_error) == ("pending", "OSError: webhook answered HTTP 500")
        delivery.alerts_run_once(now=NOW + timedelta(seconds=11))
        delivery.alerts_run_once(now=NOW + timedelta(seconds=60))
        assert len(webhook.bodies) == 2  # the failed try and the one that worked
        assert AlertDelivery.objects.get(channel="webhook").state == "sent"

    def test_an_unreachable_webhooks_secret_path_stays_out_of_logs_and_rows(self, crossed, caplog):
        # Slack-style URL: the path is the secret. Port 9 (discard): nothing listens.
        crossed.webhook_url = "http://127.0.0.1:9/services/T000/B000/s3cretT0ken"
        crossed.save()
        delivery.alerts_run_once(now=NOW)
        row = AlertDelivery.objects.get(channel="webhook")
        assert row.state == "pending" and row.last_error.startswith("ConnectionError")
        assert "s3cretT0ken" not in row.last_error
        assert "s3cretT0ken" not in caplog.text
        assert "http://127.0.0.1:9/…" in caplog.text

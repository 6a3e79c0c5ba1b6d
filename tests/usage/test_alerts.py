"""Call consumption alerts as recipients meet them: one email per threshold per month."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.core import mail

from keys.services import key_update
from usage.alerts import delivery, detection
from usage.metering import windows
from usage.models import PLAN_REF, Alert, AlertDelivery, MonthUsage

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
PRICE = "/simple/price"


@pytest.fixture
def small_plan(plan, staff):
    """4 credits, thresholds 50/75/100: every call is 25 % of the plan."""
    plan.monthly_credits = 4
    plan.thresholds = "50,75,100"
    plan.recipients = "ops@example.com"
    plan.save()
    return plan


def send():
    return delivery.alerts_run_once(now=windows.utc_now())


def subjects_to(address):
    return [m.subject for m in mail.outbox if m.to == [address]]


def call(api, n=1):
    statuses = [api.get(PRICE, ids="bitcoin").status_code for _ in range(n)]
    return statuses


class TestThresholds:
    def test_each_threshold_crossed_one_call_at_a_time_sends_one_email_each(
        self, api, small_plan, clock
    ):
        seen = []
        for _ in range(4):
            call(api)
            send()
            send()  # a second pass (or a restarted sender) finds nothing new
            seen.append(len(subjects_to("carol@example.com")))
        assert seen == [0, 1, 2, 3]
        carol = subjects_to("carol@example.com")
        assert ["50%" in carol[0], "75%" in carol[1], "100%" in carol[2]] == [True] * 3
        # staff and the added address get the same emails, once each
        assert subjects_to("ops@example.com") == carol
        assert len(mail.outbox) == 6

    def test_the_email_has_the_figures_top_keys_and_a_report_link(self, api, small_plan, clock):
        call(api, 2)
        send()
        message = subjects_to("carol@example.com") and mail.outbox[0]
        assert "50% of its monthly call credits" in message.subject
        assert "Calls used: 2 of 4 (50%)" in message.body
        assert "Remaining: 2" in message.body
        assert "pricing bot" in message.body and "2 calls" in message.body
        assert "http://127.0.0.1:8000/usage/" in message.body
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html"
        assert "pricing bot" in html and 'href="http://127.0.0.1:8000/usage/"' in html

    def test_a_burst_past_several_thresholds_sends_one_email_each(self, api, small_plan, clock):
        call(api, 3)  # 75 %: 50 and 75 crossed between two scans
        send()
        carol = subjects_to("carol@example.com")
        assert len(carol) == 2 and "50%" in carol[0] and "75%" in carol[1]
        assert dict(Alert.objects.values_list("threshold", "state")) == {50: "sent", 75: "sent"}
        send()  # a second pass finds nothing new
        call(api)
        send()
        assert "100%" in subjects_to("carol@example.com")[-1]
        assert len(subjects_to("carol@example.com")) == 3

    def test_alerts_off_sends_nothing(self, api, small_plan, clock):
        small_plan.alerts_enabled = False
        small_plan.save()
        call(api, 4)
        send()
        assert mail.outbox == []
        assert not Alert.objects.exists()

    def test_a_key_with_its_own_credits_alerts_its_owner_on_its_own_thresholds(
        self, api, small_plan, clock
    ):
        small_plan.monthly_credits = 1000
        small_plan.save()
        key_update(key=api.key, label=api.key.label, rate_limit=None, monthly_credits=2)
        call(api)
        send()
        alice = subjects_to("alice@example.com")
        assert len(alice) == 1 and "your key “pricing bot”" in alice[0] and "50%" in alice[0]
        assert subjects_to("carol@example.com") == []  # the plan is at 0.1 %
        call(api)
        send()
        alice = subjects_to("alice@example.com")  # 75 % and 100 % passed by one call
        assert len(alice) == 3 and "75%" in alice[1]
        assert "100%" in alice[2] and "are now refused" in alice[2]

    def test_a_new_month_starts_over(self, api, small_plan, clock):
        call(api, 2)
        send()
        assert len(subjects_to("carol@example.com")) == 1
        clock.now = datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC)
        send()
        assert len(subjects_to("carol@example.com")) == 1  # nothing used in December yet
        call(api, 2)
        send()
        carol = subjects_to("carol@example.com")
        assert len(carol) == 2 and "50%" in carol[1]
        assert sorted(Alert.objects.values_list("month", flat=True)) == [
            datetime(2026, 11, 1).date(),
            datetime(2026, 12, 1).date(),
        ]


class TestOverage:
    def test_100_percent_with_overage_off_says_calls_are_refused(self, api, small_plan, clock):
        assert call(api, 5) == [200, 200, 200, 200, 402]
        send()
        carol = subjects_to("carol@example.com")  # 50, 75 and 100 % passed between scans
        assert len(carol) == 3 and "calls are now refused" in carol[2]
        assert not any("refused" in subject for subject in carol[:2])
        hundred = [m for m in mail.outbox if "100%" in m.subject][0]
        assert "calls are now refused" in hundred.body

    def test_100_percent_with_overage_on_says_calls_count_as_overage(self, api, small_plan, clock):
        small_plan.overage = True
        small_plan.save()
        call(api, 3)
        send()
        assert call(api, 2) == [200, 200]  # the 5th is overage
        send()
        carol = subjects_to("carol@example.com")  # 50 and 75 %, then 100 %
        assert len(carol) == 3 and "now count as overage" in carol[2]
        assert "refused" not in carol[2]

    def test_overage_turned_off_while_over_refuses_and_sends_no_second_100_alert(
        self, api, small_plan, clock, staff_client
    ):
        small_plan.overage = True
        small_plan.save()
        assert call(api, 6) == [200] * 6
        send()
        carol = subjects_to("carol@example.com")  # one email per threshold crossed
        assert len(carol) == 3 and sum("100%" in subject for subject in carol) == 1
        response = staff_client.post("/usage/settings/overage/", {"value": "off"})
        assert response.status_code == 302
        assert call(api, 1) == [402]
        send()
        assert len(subjects_to("carol@example.com")) == 3  # no second 100 % alert
        plan_month = MonthUsage.objects.get(key_ref=PLAN_REF, month=NOW.date().replace(day=1))
        assert (plan_month.credits_used, plan_month.overage_calls) == (4, 2)


class TestSenders:
    def test_a_restarted_sender_resends_nothing(self, api, small_plan, clock):
        call(api, 2)
        send()
        count = len(mail.outbox)
        for _ in range(3):  # three "restarts", each a fresh pass
            send()
        assert len(mail.outbox) == count == 2

    def test_a_delivery_left_sending_by_a_killed_sender_is_retried_after_its_lease(
        self, api, small_plan, clock
    ):
        call(api, 2)
        detection.alerts_detect(now=clock.now)
        # A sender claimed one and died before sending.
        killed = AlertDelivery.objects.order_by("pk").first()
        AlertDelivery.objects.filter(pk=killed.pk).update(
            state="sending", claimed_at=clock.now, attempts=1
        )
        send()
        assert len(mail.outbox) == 1  # the other one; the claimed one waits for its lease
        clock.advance(minutes=11)
        send()
        assert len(mail.outbox) == 2
        assert set(AlertDelivery.objects.values_list("state", flat=True)) == {"sent"}


def busy_retry(target):
    """SQLite's busy wait, which the in-memory test database lacks.

    A file database (production) makes a second writer wait for the lock; the shared-cache
    in-memory one pytest-django uses fails at once with "table is locked". Retrying the
    whole pass is what the waiting writer would have done. PostgreSQL never gets here.
    """
    from django.db import OperationalError, connection

    for _ in range(500):
        try:
            return target()
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.002)
    raise AssertionError("still locked after 500 tries")


@pytest.mark.django_db(transaction=True)
class TestRaces:
    THREADS = 6

    def _race(self, target):
        barrier = threading.Barrier(self.THREADS)
        errors = []

        def run():
            from django.db import connection

            try:
                barrier.wait(timeout=10)
                busy_retry(target)
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert errors == []

    def test_senders_racing_send_each_email_exactly_once(self, small_plan, staff, clock):
        MonthUsage.objects.create(key_ref=PLAN_REF, month=NOW.date().replace(day=1), credits_used=2)
        self._race(lambda: delivery.alerts_run_once(now=NOW))
        assert sorted(m.to[0] for m in mail.outbox) == ["carol@example.com", "ops@example.com"]
        assert Alert.objects.count() == 1
        assert list(AlertDelivery.objects.values_list("state", "attempts")) == [("sent", 1)] * 2

    def test_a_concurrent_burst_of_calls_with_senders_running_sends_one_email_each(
        self, api, small_plan, clock
    ):
        small_plan.monthly_credits = 12
        small_plan.thresholds = "50,100"
        small_plan.save()
        from django.test import Client

        def burst():
            client = Client()
            for _ in range(2):
                for _ in range(500):  # a client retrying SQLite-in-memory lock errors
                    status = client.get(f"/api/v3{PRICE}", HTTP_X_CG_PRO_API_KEY=api.raw)
                    if status.status_code < 500:
                        break
                    time.sleep(0.002)
                busy_retry(lambda: delivery.alerts_run_once(now=NOW))

        self.THREADS = 6
        self._race(lambda: burst())  # 12 calls from 6 threads, each thread also sending
        send()
        carol = subjects_to("carol@example.com")
        assert len(carol) == 2  # one email per threshold, however the calls interleaved
        assert "50%" in carol[0] and "100%" in carol[1]
        assert Alert.objects.filter(threshold=100).count() == 1


class TestCommand:
    def test_sendalerts_once_sends_and_says_so(self, api, small_plan, clock):
        import io

        from django.core.management import call_command

        call(api, 2)
        out = io.StringIO()
        call_command("sendalerts", "--once", stdout=out)
        assert out.getvalue().strip() == "sendalerts: 2 sent"

    def test_the_loop_stops_cleanly_on_sigterm(self, api, small_plan, clock, monkeypatch):
        import io
        import os
        import signal

        from django.core.management import call_command

        from usage.management.commands import sendalerts

        passes = []

        def one_pass(**kwargs):
            try:
                passes.append(delivery.alerts_run_once(now=clock.now))
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # what a process manager sends

        monkeypatch.setattr(sendalerts, "alerts_run_once", one_pass)
        # The test's transaction would look stale to it and be closed under the test.
        monkeypatch.setattr(sendalerts, "close_old_connections", lambda: None)
        # The daily prune runs in a thread with a connection of its own, which would commit
        # outside the test's transaction (test_retention.py runs it in a real process).
        monkeypatch.setattr(sendalerts.retention, "prune_daily", lambda stop: None)
        previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        call(api, 2)
        out = io.StringIO()
        try:
            call_command("sendalerts", "--interval", "30", stdout=out)  # returns at once
        finally:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
        assert passes == [2]
        assert out.getvalue().splitlines()[-1] == "sendalerts: stopped"

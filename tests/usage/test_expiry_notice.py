"""The expiry notice: one email to a key's owner 7 days before the key expires, sent by the
alert sender over a real SMTP server on loopback, once."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F

from keys.models import ApiKey
from keys.services import key_create, key_delete, key_set_access
from tests.support import Inbox, smtp_on_loopback
from usage.alerts import delivery, expiry

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def inbox(settings, clock):
    settings.TIME_ZONE = "UTC"
    box = Inbox()
    controller = smtp_on_loopback(settings, box)
    yield box
    controller.stop()


@pytest.fixture
def expiring(owner):
    return key_create(owner=owner, label="contractor bot", expires_at=EXPIRES)[0]


def run(at):
    return delivery.alerts_run_once(now=at)


def test_the_owner_gets_one_email_seven_days_before(inbox, expiring):
    assert run(EXPIRES - timedelta(days=7, seconds=1)) == 0
    assert inbox.messages == []
    assert run(EXPIRES - timedelta(days=7)) == 1
    for later in (timedelta(days=6), timedelta(days=1), timedelta(minutes=1)):
        assert run(EXPIRES - later) == 0
    assert len(inbox.messages) == 1
    recipients, content = inbox.messages[0]
    assert recipients == ["alice@example.com"]
    assert (
        "Subject: Tollgate: your API key =E2=80=9Ccontractor bot=E2=80=9D expires on" in content
        or ("contractor bot" in content and "2026-12-03 12:00 UTC" in content)
    )
    assert expiring.masked in content and "http://127.0.0.1:8000/keys/" in content
    assert "text/plain" in content and "text/html" in content


def test_a_key_given_a_near_expiry_is_announced_at_once(inbox, owner):
    key_create(owner=owner, label="short", expires_at=NOW + timedelta(days=2))
    assert run(NOW) == 1
    assert run(NOW + timedelta(hours=1)) == 0


def test_a_new_expiry_gets_a_notice_of_its_own(inbox, expiring):
    run(EXPIRES - timedelta(days=3))
    key_set_access(key=expiring, expires_at=EXPIRES + timedelta(days=30), allowed_ips="")
    assert run(EXPIRES - timedelta(days=2)) == 0  # 32 days away now
    assert run(EXPIRES + timedelta(days=23)) == 1
    assert run(EXPIRES + timedelta(days=24)) == 0
    assert len(inbox.messages) == 2


def test_no_notice_for_keys_without_expiry_deleted_expired_or_of_owners_without_email(
    inbox, owner, teammate
):
    key_create(owner=owner, label="forever")
    gone, _ = key_create(owner=owner, label="gone", expires_at=NOW + timedelta(days=1))
    key_delete(key=gone)
    teammate.email = ""
    teammate.save()
    key_create(owner=teammate, label="no address", expires_at=NOW + timedelta(days=1))
    assert run(NOW) == 0
    expired, _ = key_create(owner=owner, label="late", expires_at=NOW + timedelta(seconds=1))
    assert run(NOW + timedelta(seconds=1)) == 0
    assert inbox.messages == []


def test_smtp_refusing_is_retried_and_the_notice_still_goes_once(inbox, expiring, caplog):
    inbox.refusing = True
    at = EXPIRES - timedelta(days=7)
    assert run(at) == 0
    assert "expiry notice: email to alice@example.com" in caplog.text
    inbox.refusing = False
    assert run(at + timedelta(minutes=4)) == 0  # waiting out the retry
    assert run(at + timedelta(minutes=5)) == 1
    assert run(at + timedelta(minutes=30)) == 0
    assert len(inbox.messages) == 1


def test_a_notice_another_sender_holds_is_left_to_it_until_its_lease_ends(inbox, expiring):
    at = EXPIRES - timedelta(days=7)
    key = ApiKey.objects.get()
    assert expiry._claim(key, at) is True  # another sender took it, and is sending
    assert expiry._claim(key, at) is False  # a racing sender loses the claim
    assert run(at + timedelta(minutes=9)) == 0
    assert inbox.messages == []
    # That sender died mid-send: after its lease the notice goes out (README: may repeat).
    assert run(at + timedelta(minutes=10)) == 1
    assert run(at + timedelta(minutes=30)) == 0


@pytest.mark.django_db(transaction=True)
def test_racing_senders_send_each_notice_once(owner, clock):
    from django.core import mail
    from django.db import OperationalError, connection

    for n in range(6):
        key_create(owner=owner, label=f"key {n}", expires_at=NOW + timedelta(days=3))
    barrier = threading.Barrier(4)
    errors = []

    def sender():
        try:
            barrier.wait(timeout=10)
            for _ in range(500):
                try:
                    expiry.expiry_notices_send(now=NOW)
                    break
                except OperationalError as exc:
                    # pytest-django's shared in-memory SQLite fails a second writer at once
                    # ("table is locked") where a file database would wait: try again.
                    if connection.vendor != "sqlite" or "locked" not in str(exc):
                        raise
                    time.sleep(0.002)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Tollgate: your API key “key {n}” expires on 2026-11-29 10:05 UTC" for n in range(6)
    )
    assert ApiKey.objects.filter(expiry_notice_for=F("expires_at")).count() == 6

"""What tests share besides fixtures: constants, data builders, a free port.

Fixtures live in the conftest.py files; everything a test module imports lives here, so
no test module imports from another.
"""

import socket
from datetime import datetime

from django.db.models import F

from usage.metering import ledger, windows
from usage.metering.access import authenticate
from usage.models import PLAN_REF, MonthUsage

PASSWORD = "correct-horse-battery-staple"
# The team's real CoinGecko key, as the simulated upstream expects it.
TEAM_KEY = "CG-team-upstream-key-0123456789"


def free_port() -> int:
    """A TCP port on the loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def authenticated(raw_key: str):
    """The id of the key ``raw_key`` authenticates as (the proxy's rule), or None: an
    active key whose owner is active, not expired, not a value rolled away (the address
    allowlist aside: it depends on who calls)."""
    key, _plan = authenticate(raw_key)
    if key is None or not key.owner_active or key.expired or key.rolled_away:
        return None
    return key.pk


def record_call(
    key,
    at: datetime,
    *,
    path: str = "/simple/price",
    status: int = 200,
    outcome: str = "ok",
    credit: bool = True,
    overage: bool = False,
    latency_ms: float | None = 12.5,
    size: int = 100,
    method: str = "GET",
    query: str = "ids=bitcoin&vs_currencies=usd",
) -> int:
    """One call of ``key`` (an ApiKey; None for a call without a usable key) at ``at``, as
    the proxy leaves it: with ``credit``, a credit of the key and the plan reserved first
    (the ledger gives it back when ``status`` is not 2xx); then its row and counters.
    Returns the row's id."""
    admission = None
    if key is not None:
        if credit:
            _reserve_credit(key, at)
        admission = ledger.Admission(None, None, credit=credit, overage=overage)
    call = ledger.CallRecord(
        at=at,
        key_id=key.pk if key is not None else None,
        method=method,
        path=path,
        query=query,
        status=status,
        outcome=outcome,
        latency_ms=latency_ms,
        bytes=size,
    )
    return ledger.record(call, admission)


def _reserve_credit(key, at: datetime) -> None:
    month = windows.month_start(at)
    for ref in (key.pk, PLAN_REF):
        row, _ = MonthUsage.objects.get_or_create(key_ref=ref, month=month)
        MonthUsage.objects.filter(pk=row.pk).update(credits_used=F("credits_used") + 1)


def log_in(page, live_server, username="alice"):
    """Log in through the browser's login page (end-to-end tests)."""
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("username")).to_have_text(username)


class Inbox:
    """An aiosmtpd handler keeping every message: [(recipients, raw message text)]; while
    ``refusing``, it answers 451 (a mail server that says "try again later")."""

    def __init__(self):
        self.messages = []
        self.refusing = False

    async def handle_DATA(self, server, session, envelope):
        if self.refusing:
            return "451 4.3.0 try again later"
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf8", "replace")))
        return "250 OK"

    def links(self, pattern: str = r"https?://\S+") -> list[str]:
        """Every link in every message, in order (quoted-printable soft breaks undone)."""
        import email
        import re

        found = []
        for _, raw in self.messages:
            body = email.message_from_string(raw).get_payload(decode=True).decode()
            found += re.findall(pattern, body)
        return found


def smtp_on_loopback(settings, inbox: "Inbox"):
    """Start a real SMTP server on 127.0.0.1 for ``inbox`` and point Django's mail at it.
    Returns the aiosmtpd controller (call ``stop()``)."""
    from aiosmtpd.controller import Controller

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 5
    controller = Controller(inbox, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    return controller


def logs_in(client, username: str, password: str) -> bool:
    """Whether the console's login form accepts ``username`` and ``password`` (then logs
    out again). Through the form: the login throttle wants a request."""
    from django.urls import reverse

    client.post(reverse("login"), {"username": username, "password": password})
    logged_in = "_auth_user_id" in client.session
    client.logout()
    return logged_in

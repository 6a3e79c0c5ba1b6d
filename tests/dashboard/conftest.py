"""A real SMTP server on loopback for the teammates' emails."""

import pytest

from tests.support import Inbox, smtp_on_loopback


@pytest.fixture
def inbox(settings):
    """Mail goes to an SMTP server on 127.0.0.1; its messages land in ``inbox.messages``."""
    received = Inbox()
    controller = smtp_on_loopback(settings, received)
    received.controller = controller
    yield received
    controller.stop()

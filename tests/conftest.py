"""Shared fixtures: the owner of a key, a teammate who must not see it, a staff member;
their logged-in clients; Tollgate's frozen clock."""

from datetime import UTC, datetime, timedelta

import pytest

from keys.services import key_create
from tests.support import PASSWORD
from usage.metering import windows

DEFAULT_NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def teammate(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", PASSWORD)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "carol", "carol@example.com", PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def owner_key(owner):
    """An active key of the owner's, with its raw value: (ApiKey, raw)."""
    return key_create(owner=owner, label="pricing bot")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def teammate_client(client, teammate):
    client.force_login(teammate)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength costs ~0.3 s a user; the tests are not about hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _static_from_sources(settings):
    """Render static URLs from the source tree under their plain names.

    Production uses WhiteNoise's manifest storage, which needs ``collectstatic`` first and
    renders hashed names that only exist in STATIC_ROOT. Tests must not depend on whether
    (or how long ago) a ``make run`` collected them; the live server serves the sources.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def clock(monkeypatch, request):
    """Tollgate's clock (usage.metering.windows.utc_now), frozen at the test module's
    ``NOW`` (or DEFAULT_NOW). ``clock.set(moment)`` and ``clock.advance(minutes=11)`` move it.
    """

    class Clock:
        now = getattr(request.module, "NOW", DEFAULT_NOW)

        def set(self, moment):
            self.now = moment

        def advance(self, **delta):
            self.now += timedelta(**delta)

    frozen = Clock()
    monkeypatch.setattr(windows, "utc_now", lambda: frozen.now)
    return frozen

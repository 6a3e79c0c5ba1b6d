"""Rolling a key: a new value shown once on the same key, the old one kept for a grace
period, from the console, the admin and ``rollapikey``."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from keys.models import ApiKey
from keys.services import key_create, key_delete, key_roll
from tests.support import authenticated

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
CHANGELIST = reverse("admin:keys_apikey_changelist")


def roll_url(key):
    return reverse("keys:roll", args=[key.pk])


class TestService:
    def test_the_new_value_keeps_everything_but_the_secret(self, owner, clock):
        key, old = key_create(owner=owner, label="bot", rate_limit=7, allowed_ips="10.0.0.0/8")
        rolled, new = key_roll(key=key, grace=timedelta(hours=1))
        stored = ApiKey.objects.get()
        assert new != old and stored.prefix == new[:11] and stored.previous_prefix == old[:11]
        assert (stored.pk, stored.label, stored.owner, stored.rate_limit) == (
            key.pk,
            "bot",
            owner,
            7,
        )
        assert stored.allowed_ips == "10.0.0.0/8"
        assert stored.previous_valid_until == clock.now + timedelta(hours=1)
        assert authenticated(new) == authenticated(old) == key.pk
        # Only digests are stored, never a raw value.
        assert old not in repr(list(ApiKey.objects.values())) and new not in repr(
            list(ApiKey.objects.values())
        )

    def test_a_deleted_key_cannot_be_rolled(self, owner_key):
        key, raw = owner_key
        key_delete(key=key)
        with pytest.raises(Exception, match="deleted key cannot be rolled"):
            key_roll(key=key, grace=timedelta(0))
        assert ApiKey.objects.get().previous_digest is None


class TestConsole:
    def test_the_owner_rolls_with_a_grace_and_sees_the_new_key_once(
        self, owner_client, owner_key, clock
    ):
        key, old = owner_key
        form = owner_client.get(roll_url(key), **HTMX).content.decode()
        assert "Roll “pricing bot”?" in form and "Keep the old key working for 24 hours" in form
        response = owner_client.post(roll_url(key), {"grace": "24h"}, **HTMX)
        new = response.context["raw_key"]
        body = response.content.decode()
        assert new in body and "will not be shown again" in body
        assert "no-store" in response["Cache-Control"]
        assert "keeps working until" in body and key.masked in body
        assert authenticated(new) == authenticated(old) == key.pk
        # The table, during the grace: the new value and the old one with its end.
        table = owner_client.get(reverse("keys:list")).content.decode()
        assert new[:11] in table and old[:11] in table and "works until" in table
        assert (clock.now + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M") in table
        assert new not in table
        clock.advance(hours=24)
        table = owner_client.get(reverse("keys:list")).content.decode()
        assert old[:11] not in table and authenticated(old) is None

    def test_rolling_again_within_a_grace_says_the_oldest_key_stops(self, owner_client, owner_key):
        key, first = owner_key
        assert b"roll-ends-grace" not in owner_client.get(roll_url(key), **HTMX).content
        key_roll(key=key, grace=timedelta(hours=1))
        form = owner_client.get(roll_url(key), **HTMX).content.decode()
        assert f"The key before it, <code>{first[:11]}…</code>" in form and "stops at once" in form

    def test_it_works_as_a_plain_form_post(self, owner_client, owner_key):
        key, old = owner_key
        page = owner_client.get(roll_url(key))
        assert b"<html" in page.content and b"Roll Key" in page.content
        response = owner_client.post(roll_url(key), {"grace": "0"})
        assert response.context["raw_key"] in response.content.decode()
        assert authenticated(old) is None

    def test_an_unknown_grace_is_an_inline_error_and_changes_nothing(self, owner_client, owner_key):
        key, old = owner_key
        response = owner_client.post(roll_url(key), {"grace": "forever"}, **HTMX)
        assert "Select a valid choice" in response.content.decode()
        assert ApiKey.objects.get().digest == key.digest and authenticated(old) == key.pk

    def test_staff_roll_a_members_key(self, staff_client, owner_key):
        key, old = owner_key
        response = staff_client.post(roll_url(key), {"grace": "1h"}, **HTMX)
        assert authenticated(response.context["raw_key"]) == key.pk

    @pytest.mark.parametrize("method", ["get", "post"])
    def test_a_teammate_gets_404_and_changes_nothing(self, teammate_client, owner_key, method):
        key, old = owner_key
        response = getattr(teammate_client, method)(roll_url(key), {"grace": "0"})
        assert response.status_code == 404
        assert ApiKey.objects.get().digest == key.digest and authenticated(old) == key.pk

    def test_a_post_without_csrf_token_is_refused(self, owner, owner_key):
        key, old = owner_key
        csrf_client = Client(enforce_csrf_checks=True)
        csrf_client.force_login(owner)
        assert csrf_client.post(roll_url(key), {"grace": "0"}).status_code == 403
        assert authenticated(old) == key.pk

    def test_anonymous_users_are_sent_to_log_in(self, client, owner_key):
        key, old = owner_key
        response = client.post(roll_url(key), {"grace": "0"})
        assert response.status_code == 302 and authenticated(old) == key.pk


class TestAdmin:
    def test_the_action_asks_for_the_grace_then_shows_the_new_values_once(
        self, staff_client, owner_key, teammate
    ):
        key, old = owner_key
        other, other_old = key_create(owner=teammate, label="other")
        selected = {"action": "roll_selected_keys", "_selected_action": [key.pk, other.pk]}
        confirm = staff_client.post(CHANGELIST, selected).content.decode()
        assert "Roll keys" in confirm and "pricing bot" in confirm
        assert authenticated(old) == key.pk  # nothing rolled yet
        response = staff_client.post(CHANGELIST, {**selected, "grace": "7d"})
        body = response.content.decode()
        assert "no-store" in response["Cache-Control"]
        assert "Rolled 2 key(s)" in body
        for raw in (old, other_old):
            assert authenticated(raw) is not None  # within the grace
        new_values = re.findall(r'data-testid="raw-key">(tg_\w+)<', body)
        assert sorted(authenticated(raw) for raw in new_values) == sorted([key.pk, other.pk])
        assert not any(raw in staff_client.get(CHANGELIST).content.decode() for raw in new_values)

    def test_the_change_page_shows_the_old_key_and_its_end(self, staff_client, owner_key, clock):
        key, old = owner_key
        key_roll(key=key, grace=timedelta(hours=1))
        body = staff_client.get(reverse("admin:keys_apikey_change", args=[key.pk])).content
        assert old[:11].encode() in body and b"works until" in body
        assert old.encode() not in body


class TestCommand:
    def run(self, *args):
        out, err = io.StringIO(), io.StringIO()
        call_command("rollapikey", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_it_prints_only_the_new_key(self, owner_key, clock):
        key, old = owner_key
        out, err = self.run("--key", key.prefix, "--grace", "1h")
        lines = out.splitlines()
        assert len(lines) == 1 and err == ""
        assert authenticated(lines[0]) == authenticated(old) == key.pk
        assert ApiKey.objects.get().previous_valid_until == clock.now + timedelta(hours=1)

    def test_without_grace_the_old_key_stops_now(self, owner_key):
        key, old = owner_key
        out, _ = self.run("--key", key.masked)  # as the console shows it, with its "…"
        assert authenticated(out.strip()) == key.pk and authenticated(old) is None

    def test_an_unknown_prefix_is_an_error_and_changes_nothing(self, owner_key):
        key, old = owner_key
        with pytest.raises(CommandError, match="no active key with the prefix 'tg_nothing'"):
            self.run("--key", "tg_nothing")
        assert ApiKey.objects.get().previous_digest is None and authenticated(old) == key.pk

    def test_a_deleted_keys_prefix_is_unknown(self, owner_key):
        key, _ = owner_key
        key_delete(key=key)
        with pytest.raises(CommandError, match="no active key"):
            self.run("--key", key.prefix)

    def test_an_unknown_grace_is_an_error(self, owner_key):
        key, old = owner_key
        with pytest.raises(CommandError, match="invalid choice: '2d'"):
            self.run("--key", key.prefix, "--grace", "2d")
        assert authenticated(old) == key.pk

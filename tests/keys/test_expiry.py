"""A key's expiry: set in the console, the admin and ``createapikey --expires``; a past
expiry is refused and changes nothing; keys expiring within 7 days are shown."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from keys.models import ApiKey
from keys.services import key_create, key_set_access
from tests.support import authenticated

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = datetime(2026, 11, 26, 10, 5, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_team(settings, clock):
    settings.TIME_ZONE = "UTC"


def local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


class TestConsole:
    def test_a_new_key_gets_an_expiry(self, owner_client, owner):
        response = owner_client.post(
            reverse("keys:create"), {"label": "contractor", "expires_at": "2026-12-31T18:00"}
        )
        assert response.status_code == 200
        key = ApiKey.objects.get(owner=owner)
        assert key.expires_at == datetime(2026, 12, 31, 18, 0, tzinfo=UTC)
        assert "expires" in owner_client.get(reverse("keys:list")).content.decode()

    def test_the_form_reads_the_moment_in_the_teams_time_zone(self, owner_client, owner, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        form = owner_client.get(reverse("keys:create")).content.decode()
        assert "Expires (Europe/Berlin)" in form
        owner_client.post(reverse("keys:create"), {"label": "x", "expires_at": "2026-12-31T18:00"})
        assert ApiKey.objects.get().expires_at == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)

    @pytest.mark.parametrize("when", ["2026-11-26T10:05", "2020-01-01T00:00"])
    def test_a_past_expiry_is_an_inline_error_and_creates_nothing(self, owner_client, when):
        response = owner_client.post(
            reverse("keys:create"), {"label": "late", "expires_at": when}, **HTMX
        )
        assert "Choose a moment in the future" in response.content.decode()
        assert not ApiKey.objects.exists()

    def test_an_unreadable_expiry_is_an_inline_error(self, owner_client):
        response = owner_client.post(
            reverse("keys:create"), {"label": "x", "expires_at": "next tuesday"}, **HTMX
        )
        assert "Enter a valid date/time" in response.content.decode()
        assert not ApiKey.objects.exists()

    def test_the_owner_sets_and_clears_an_expiry(self, owner_client, owner_key):
        key, raw = owner_key
        url = reverse("keys:edit", args=[key.pk])
        owner_client.post(url, {"label": "pricing bot", "expires_at": "2027-01-02T03:04"})
        key.refresh_from_db()
        assert key.expires_at == datetime(2027, 1, 2, 3, 4, tzinfo=UTC)
        owner_client.post(url, {"label": "pricing bot", "expires_at": ""})
        key.refresh_from_db()
        assert key.expires_at is None

    def test_a_past_expiry_on_edit_changes_nothing(self, owner_client, owner_key):
        key, raw = owner_key
        url = reverse("keys:edit", args=[key.pk])
        response = owner_client.post(
            url, {"label": "renamed", "expires_at": "2026-11-25T00:00"}, **HTMX
        )
        assert "Choose a moment in the future" in response.content.decode()
        key.refresh_from_db()
        assert (key.label, key.expires_at) == ("pricing bot", None)
        assert authenticated(raw) == key.pk

    def test_an_expired_key_can_still_be_renamed(self, owner_client, owner_key, clock):
        key, raw = owner_key
        key_set_access(key=key, expires_at=NOW + timedelta(seconds=90, minutes=1), allowed_ips="")
        clock.advance(days=1)
        url = reverse("keys:edit", args=[key.pk])
        form = owner_client.get(url).content.decode()
        assert 'value="2026-11-26T10:07"' in form
        owner_client.post(url, {"label": "old bot", "expires_at": "2026-11-26T10:07"})
        key.refresh_from_db()
        # The expiry set to the second elsewhere and posted back unchanged stays as it was.
        assert key.label == "old bot" and key.expires_at == NOW + timedelta(seconds=150)

    def test_the_table_marks_an_expired_key(self, owner_client, owner_key, clock):
        key, _ = owner_key
        key_set_access(key=key, expires_at=NOW + timedelta(hours=1), allowed_ips="")
        clock.advance(hours=1)
        table = owner_client.get(reverse("keys:list")).content.decode()
        assert ">Expired<" in table and "expired <time" in table

    def test_keys_expiring_within_7_days_are_listed_above_the_table(
        self, owner_client, owner, clock
    ):
        soon, _ = key_create(owner=owner, label="soon", expires_at=NOW + timedelta(days=6))
        key_create(owner=owner, label="later", expires_at=NOW + timedelta(days=8))
        key_create(owner=owner, label="never")
        body = owner_client.get(reverse("keys:list")).content.decode()
        notice = body.split('data-testid="keys-expiring"')[1].split("</div>")[0]
        assert "soon" in notice and soon.masked in notice and "2026-12-02 10:05" in notice
        assert "“later”" not in notice and "“never”" not in notice
        clock.advance(days=6)  # "soon" has expired: no longer "expiring"
        body = owner_client.get(reverse("keys:list")).content.decode()
        assert 'data-testid="keys-expiring"' in body and "“later”" in body
        assert "“soon”" not in body.split('data-testid="keys-expiring"')[1].split("</div>")[0]

    def test_a_teammates_expiring_key_is_not_shown(self, teammate_client, owner):
        key_create(owner=owner, label="soon", expires_at=NOW + timedelta(days=1))
        assert "keys-expiring" not in teammate_client.get(reverse("keys:list")).content.decode()


class TestAdmin:
    def test_staff_add_a_key_with_an_expiry(self, staff_client, owner):
        response = staff_client.post(
            reverse("admin:keys_apikey_add"),
            {
                "owner": owner.pk,
                "label": "temp",
                "expires_at_0": "2026-12-01",
                "expires_at_1": "09:30:00",
            },
        )
        assert response.status_code == 200, response.content
        assert ApiKey.objects.get().expires_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

    def test_a_past_expiry_is_refused_in_the_admin(self, staff_client, owner_key):
        key, _ = owner_key
        response = staff_client.post(
            reverse("admin:keys_apikey_change", args=[key.pk]),
            {"label": "pricing bot", "expires_at_0": "2026-11-01", "expires_at_1": "00:00:00"},
        )
        assert "Choose a moment in the future" in response.content.decode()
        key.refresh_from_db()
        assert key.expires_at is None


class TestCommand:
    def run(self, *args):
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "createapikey", "--owner", "alice", "--label", "cron", *args, stdout=out, stderr=err
        )
        return out.getvalue()

    @pytest.mark.parametrize(
        "value, expected",
        [
            ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
            ("2026-12-01T18:30", datetime(2026, 12, 1, 18, 30, tzinfo=UTC)),
        ],
    )
    def test_expires_takes_a_date_or_a_date_and_time(self, owner, value, expected):
        raw = self.run("--expires", value).strip()
        key = ApiKey.objects.get(pk=authenticated(raw))
        assert key.expires_at == expected

    def test_a_past_expiry_is_an_error_and_creates_nothing(self, owner):
        with pytest.raises(CommandError, match="Choose a moment in the future"):
            self.run("--expires", "2026-11-26")
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize("value", ["tomorrow", "2026-13-01", "2026-12-01 18:30", "01/12/2026"])
    def test_an_unreadable_expiry_is_an_error(self, owner, value):
        with pytest.raises(CommandError, match="is not YYYY-MM-DD or YYYY-MM-DDTHH:MM"):
            self.run("--expires", value)
        assert not ApiKey.objects.exists()

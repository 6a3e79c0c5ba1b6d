"""A key's address allowlist: parsed and shown in one canonical form; set in the console,
the admin and ``createapikey --allow-ips``; a malformed entry is refused and changes nothing."""

import io
import ipaddress

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from keys import networks
from keys.models import ApiKey
from keys.services import key_set_access
from tests.support import authenticated

HTMX = {"HTTP_HX_REQUEST": "true"}


class TestParsing:
    @pytest.mark.parametrize(
        "typed, stored",
        [
            ("", ""),
            ("10.1.0.0/16,2001:db8::/32", "10.1.0.0/16, 2001:db8::/32"),
            (" 192.0.2.7/32\n2001:DB8:0:0::1 ", "192.0.2.7, 2001:db8::1"),
            ("10.0.0.0/8, 10.0.0.0/8", "10.0.0.0/8"),
            ("::ffff:0:0/96", "::ffff:0:0/96"),
        ],
    )
    def test_it_stores_a_canonical_list(self, typed, stored):
        assert networks.allowlist_clean(typed) == stored

    @pytest.mark.parametrize(
        "typed, message",
        [
            ("10.1.0.0/33", "“10.1.0.0/33” is not an IPv4 or IPv6 address or network"),
            ("300.1.2.3", "“300.1.2.3” is not an IPv4 or IPv6 address"),
            ("example.com", "“example.com” is not an IPv4 or IPv6 address"),
            (
                "10.1.2.3/16",
                "“10.1.2.3/16” has bits set past its prefix length: did you mean 10.1.0.0/16?",
            ),
            ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
        ],
    )
    def test_a_malformed_entry_is_named_in_the_error(self, typed, message):
        with pytest.raises(ValidationError) as exc:
            networks.allowlist_clean(f"192.0.2.1, {typed}")
        assert message in exc.value.messages[0]

    def test_a_huge_list_is_refused(self):
        many = ", ".join(f"10.0.{i}.0/24" for i in range(networks.MAX_ENTRIES + 1))
        with pytest.raises(ValidationError, match="Keep the list to 64"):
            networks.allowlist_clean(many)

    def test_a_stored_list_is_parsed_once_not_per_call(self):
        networks.networks.cache_clear()
        for _ in range(100):
            assert networks.address_allowed("10.1.2.3", "10.1.0.0/16, 2001:db8::/32")
        info = networks.networks.cache_info()
        assert (info.misses, info.hits) == (1, 99)

    def test_a_list_edited_by_hand_into_garbage_fails_closed(self):
        assert not networks.address_allowed("10.1.2.3", "not-a-network")
        assert networks.networks("not-a-network, 10.0.0.0/8") == (
            ipaddress.ip_network("10.0.0.0/8"),
        )


@pytest.mark.django_db
class TestConsole:
    def test_a_new_key_gets_an_allowlist(self, owner_client, owner):
        owner_client.post(
            reverse("keys:create"), {"label": "bot", "allowed_ips": "10.1.0.0/16,2001:db8::/32"}
        )
        key = ApiKey.objects.get()
        assert key.allowed_ips == "10.1.0.0/16, 2001:db8::/32"
        table = owner_client.get(reverse("keys:list")).content.decode()
        assert "only from 10.1.0.0/16, 2001:db8::/32" in table

    def test_a_malformed_network_is_an_inline_error_and_creates_nothing(self, owner_client):
        response = owner_client.post(
            reverse("keys:create"),
            {"label": "bot", "allowed_ips": "10.1.0.0/16, 10.2.0.0/99"},
            **HTMX,
        )
        body = response.content.decode()
        assert "“10.2.0.0/99” is not an IPv4 or IPv6 address or network" in body
        assert 'value="10.1.0.0/16, 10.2.0.0/99"' in body  # what was typed stays to fix
        assert not ApiKey.objects.exists()

    def test_a_malformed_network_on_edit_changes_nothing(self, owner_client, owner_key):
        key, raw = owner_key
        key_set_access(key=key, expires_at=None, allowed_ips="192.0.2.0/24")
        response = owner_client.post(
            reverse("keys:edit", args=[key.pk]),
            {"label": "renamed", "allowed_ips": "192.0.2.0/24, nonsense"},
            **HTMX,
        )
        assert "“nonsense” is not an IPv4" in response.content.decode()
        key.refresh_from_db()
        assert (key.label, key.allowed_ips) == ("pricing bot", "192.0.2.0/24")

    def test_the_owner_clears_the_list(self, owner_client, owner_key):
        key, _ = owner_key
        key_set_access(key=key, expires_at=None, allowed_ips="192.0.2.0/24")
        owner_client.post(
            reverse("keys:edit", args=[key.pk]), {"label": "pricing bot", "allowed_ips": ""}
        )
        key.refresh_from_db()
        assert key.allowed_ips == ""

    def test_a_teammate_cannot_change_it(self, teammate_client, owner_key):
        key, _ = owner_key
        response = teammate_client.post(
            reverse("keys:edit", args=[key.pk]),
            {"label": "pricing bot", "allowed_ips": "0.0.0.0/0"},
        )
        assert response.status_code == 404
        key.refresh_from_db()
        assert key.allowed_ips == ""


@pytest.mark.django_db
class TestAdmin:
    def test_staff_set_a_list_in_its_canonical_form(self, staff_client, owner_key):
        key, _ = owner_key
        staff_client.post(
            reverse("admin:keys_apikey_change", args=[key.pk]),
            {"label": "pricing bot", "allowed_ips": "2001:DB8::/32 10.0.0.1"},
        )
        key.refresh_from_db()
        assert key.allowed_ips == "2001:db8::/32, 10.0.0.1"

    def test_a_malformed_network_is_refused_in_the_admin(self, staff_client, owner_key):
        key, _ = owner_key
        response = staff_client.post(
            reverse("admin:keys_apikey_change", args=[key.pk]),
            {"label": "pricing bot", "allowed_ips": "10.0.0.0/8, 10.0.0.1/8"},
        )
        assert "did you mean 10.0.0.0/8?" in response.content.decode()
        key.refresh_from_db()
        assert key.allowed_ips == ""


@pytest.mark.django_db
class TestCommand:
    def run(self, *args):
        out = io.StringIO()
        call_command("createapikey", "--owner", "alice", "--label", "cron", *args, stdout=out)
        return out.getvalue().strip()

    def test_allow_ips_sets_the_list(self, owner):
        raw = self.run("--allow-ips", "10.1.0.0/16,2001:db8::/32")
        key = ApiKey.objects.get(pk=authenticated(raw))
        assert key.allowed_ips == "10.1.0.0/16, 2001:db8::/32"

    def test_a_malformed_network_is_an_error_and_creates_nothing(self, owner):
        with pytest.raises(CommandError, match="“10.1.0.0/16x” is not an IPv4 or IPv6"):
            self.run("--allow-ips", "10.1.0.0/16x,2001:db8::/32")
        assert not ApiKey.objects.exists()

import re

import pytest
from django.urls import reverse

from keys.models import ApiKey
from keys.services import key_create, key_delete
from tests.support import authenticated

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:keys_apikey_changelist")


def test_the_changelist_shows_keys_masked(staff_client, owner_key):
    key, raw = owner_key
    body = staff_client.get(CHANGELIST).content.decode()
    assert "pricing bot" in body and key.masked in body and "alice" in body
    assert raw not in body and key.digest not in body


@pytest.mark.parametrize("term", ["pricing", "alice"])
def test_it_searches_by_label_prefix_and_owner(staff_client, owner_key, teammate, term):
    key, _ = owner_key
    other, _ = key_create(owner=teammate, label="other thing")
    body = staff_client.get(CHANGELIST, {"q": term}).content.decode()
    assert key.prefix in body and other.prefix not in body


def test_it_searches_by_prefix(staff_client, owner_key, teammate):
    key, _ = owner_key
    other, _ = key_create(owner=teammate, label="other thing")
    body = staff_client.get(CHANGELIST, {"q": key.prefix}).content.decode()
    assert key.prefix in body and other.prefix not in body


def test_it_filters_by_status_and_owner(staff_client, owner, teammate):
    live, _ = key_create(owner=owner, label="live")
    gone, _ = key_create(owner=owner, label="gone")
    theirs, _ = key_create(owner=teammate, label="theirs")
    key_delete(key=gone)
    active = staff_client.get(CHANGELIST, {"status": "active"}).content.decode()
    assert live.prefix in active and theirs.prefix in active and gone.prefix not in active
    deleted = staff_client.get(CHANGELIST, {"status": "deleted"}).content.decode()
    assert gone.prefix in deleted and live.prefix not in deleted
    by_owner = staff_client.get(CHANGELIST, {"owner__id__exact": teammate.pk}).content.decode()
    assert theirs.prefix in by_owner and live.prefix not in by_owner


def test_delete_selected_keys_soft_deletes(staff_client, owner_key):
    key, raw = owner_key
    response = staff_client.post(
        CHANGELIST, {"action": "delete_selected_keys", "_selected_action": [key.pk]}, follow=True
    )
    assert "Deleted 1 key(s)." in response.content.decode()
    assert authenticated(raw) is None
    assert ApiKey.objects.filter(pk=key.pk, deleted_at__isnull=False).exists()


def test_there_is_no_hard_delete(staff_client, owner_key):
    key, _ = owner_key
    assert "delete_selected" not in [
        a[0] for a in staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    ]
    assert (
        staff_client.post(
            reverse("admin:keys_apikey_delete", args=[key.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_adding_a_key_shows_it_once_and_stores_its_digest(staff_client, owner):
    response = staff_client.post(
        reverse("admin:keys_apikey_add"),
        {"owner": owner.pk, "label": "from admin", "rate_limit": "60", "monthly_credits": ""},
    )
    assert response.status_code == 200
    body = response.content.decode()
    raw = re.search(r'data-testid="raw-key">(tg_[A-Za-z0-9]+)<', body).group(1)
    assert "shown only this once" in body
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(label="from admin")
    assert key.owner == owner and key.rate_limit == 60
    assert authenticated(raw) == key.pk
    assert (
        raw
        not in staff_client.get(reverse("admin:keys_apikey_change", args=[key.pk])).content.decode()
    )
    assert raw not in staff_client.get(CHANGELIST).content.decode()


def test_adding_a_duplicate_label_in_the_admin_is_a_form_error(staff_client, owner_key, owner):
    response = staff_client.post(
        reverse("admin:keys_apikey_add"), {"owner": owner.pk, "label": "PRICING BOT"}
    )
    assert response.status_code == 200
    assert "already has an active key with this label" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_editing_in_the_admin_changes_label_and_limits(staff_client, owner_key):
    key, raw = owner_key
    response = staff_client.post(
        reverse("admin:keys_apikey_change", args=[key.pk]),
        {"label": "renamed", "rate_limit": "", "monthly_credits": "1000"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.label, key.monthly_credits) == ("renamed", 1000)
    assert authenticated(raw) == key.pk


def test_members_cannot_open_the_admin(owner_client):
    response = owner_client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_adding_without_an_owner_is_a_form_error(staff_client):
    response = staff_client.post(reverse("admin:keys_apikey_add"), {"label": "orphan"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_changelist_says_when_a_keys_owner_is_deactivated(staff_client, owner, owner_key):
    key, _ = owner_key
    body = staff_client.get(CHANGELIST).content.decode()
    assert "owner active" in body.lower() and 'alt="True"' in body and 'alt="False"' not in body
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    body = staff_client.get(CHANGELIST).content.decode()
    assert 'alt="False"' in body and 'alt="True"' not in body
    deactivated = staff_client.get(CHANGELIST, {"owner__is_active__exact": "0"}).content.decode()
    assert key.prefix in deactivated
    active = staff_client.get(CHANGELIST, {"owner__is_active__exact": "1"}).content.decode()
    assert key.prefix not in active


def test_editing_in_the_admin_clears_limits_staff_set(staff_client, owner):
    key, _ = key_create(owner=owner, label="bot", rate_limit=30, monthly_credits=1000)
    response = staff_client.post(
        reverse("admin:keys_apikey_change", args=[key.pk]),
        {"label": "bot", "rate_limit": "", "monthly_credits": ""},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.rate_limit, key.monthly_credits) == (None, None)

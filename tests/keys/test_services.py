import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from keys import crypto
from keys.models import ApiKey
from keys.selectors import keys_visible_to
from keys.services import (
    key_create,
    key_delete,
    key_rename,
    key_set_limits,
    key_update,
    keys_delete,
)
from tests.support import authenticated


def all_database_text() -> str:
    """Every cell of every table, as text: what someone with the database file could read."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.django_db
class TestCreate:
    def test_it_stores_only_the_digest_and_a_display_prefix(self, owner):
        key, raw = key_create(owner=owner, label="pricing bot")
        key.refresh_from_db()
        assert key.digest == crypto.digest(raw)
        assert key.prefix == raw[:11]
        assert key.masked == raw[:11] + "…"
        assert raw not in all_database_text()
        assert raw[11:] not in all_database_text()

    def test_the_raw_key_authenticates(self, owner):
        key, raw = key_create(owner=owner, label="pricing bot")
        assert authenticated(raw) == key.pk
        assert authenticated(crypto.generate_key()) is None
        assert authenticated("not a key") is None

    def test_it_stores_optional_limits(self, owner):
        key, _ = key_create(owner=owner, label="bot", rate_limit=30, monthly_credits=1000)
        key.refresh_from_db()
        assert (key.rate_limit, key.monthly_credits) == (30, 1000)

    def test_it_strips_the_label(self, owner):
        key, _ = key_create(owner=owner, label="  pricing bot \n")
        assert key.label == "pricing bot"


@pytest.mark.django_db
class TestLabelRules:
    @pytest.mark.parametrize(
        ("label", "message"),
        [
            ("", "Give the key a label."),
            ("   ", "Give the key a label."),
            ("x" * 101, "100 characters"),
            ("tab\there", "control characters"),
            ("bell\x07", "control characters"),
        ],
    )
    def test_it_refuses_bad_labels(self, owner, label, message):
        with pytest.raises(ValidationError) as exc:
            key_create(owner=owner, label=label)
        assert message in exc.value.message_dict["label"][0]
        assert not ApiKey.objects.exists()

    def test_a_label_of_exactly_100_characters_is_fine(self, owner):
        key, _ = key_create(owner=owner, label="x" * 100)
        assert len(key.label) == 100

    def test_labels_are_unique_among_an_owners_active_keys_ignoring_case(self, owner):
        key_create(owner=owner, label="Pricing Bot")
        with pytest.raises(ValidationError) as exc:
            key_create(owner=owner, label="pricing bot")
        assert exc.value.message_dict["label"] == [
            "You already have an active key with this label."
        ]
        assert ApiKey.objects.count() == 1

    def test_another_owner_may_use_the_same_label(self, owner, teammate):
        key_create(owner=owner, label="bot")
        key, _ = key_create(owner=teammate, label="bot")
        assert key.owner == teammate

    def test_a_deleted_keys_label_is_free_again(self, owner):
        old, _ = key_create(owner=owner, label="bot")
        key_delete(key=old)
        new, _ = key_create(owner=owner, label="bot")
        assert new.pk != old.pk

    def test_the_database_refuses_a_duplicate_that_slips_past_the_check(self, owner):
        from django.db import IntegrityError, transaction

        key_create(owner=owner, label="bot")
        with pytest.raises(IntegrityError), transaction.atomic():
            ApiKey.objects.create(owner=owner, label="BOT", prefix="tg_x", digest="0" * 64)


@pytest.mark.django_db
class TestUpdate:
    def test_it_changes_label_and_limits(self, owner_key):
        key, raw = owner_key
        key_update(key=key, label="renamed", rate_limit=10, monthly_credits=500)
        key.refresh_from_db()
        assert (key.label, key.rate_limit, key.monthly_credits) == ("renamed", 10, 500)
        assert authenticated(raw) == key.pk  # editing never changes the secret

    def test_blank_limits_fall_back_to_the_plan(self, owner):
        key, _ = key_create(owner=owner, label="bot", rate_limit=5, monthly_credits=5)
        key_update(key=key, label="bot", rate_limit=None, monthly_credits=None)
        key.refresh_from_db()
        assert key.rate_limit is None and key.monthly_credits is None

    def test_it_may_keep_its_own_label_in_another_case(self, owner_key):
        key, _ = owner_key
        key_update(key=key, label="Pricing Bot", rate_limit=None, monthly_credits=None)
        assert key.label == "Pricing Bot"

    def test_it_refuses_another_active_keys_label(self, owner):
        key_create(owner=owner, label="a")
        b, _ = key_create(owner=owner, label="b")
        with pytest.raises(ValidationError):
            key_update(key=b, label="A", rate_limit=None, monthly_credits=None)
        b.refresh_from_db()
        assert b.label == "b"

    def test_it_refuses_limits_out_of_range(self, owner_key):
        key, _ = owner_key
        with pytest.raises(ValidationError) as exc:
            key_update(key=key, label="bot", rate_limit=0, monthly_credits=None)
        assert "rate_limit" in exc.value.message_dict

    def test_a_deleted_key_cannot_be_changed(self, owner_key):
        key, _ = owner_key
        key_delete(key=key)
        with pytest.raises(ValidationError):
            key_update(key=key, label="back", rate_limit=None, monthly_credits=None)


@pytest.mark.django_db
class TestLimitsAreStaffs:
    def test_staff_set_a_members_limits(self, owner_key, staff):
        key, _ = owner_key
        key_set_limits(key=key, by=staff, rate_limit=30, monthly_credits=1000)
        key.refresh_from_db()
        assert (key.rate_limit, key.monthly_credits) == (30, 1000)

    @pytest.mark.parametrize("who", ["owner", "teammate"])
    def test_a_member_cannot_set_or_clear_limits(self, request, owner, who):
        key, _ = key_create(owner=owner, label="bot", rate_limit=30, monthly_credits=1000)
        member = request.getfixturevalue(who)
        for limits in [(None, None), (100_000, 2_000_000_000)]:
            with pytest.raises(PermissionDenied):
                key_set_limits(key=key, by=member, rate_limit=limits[0], monthly_credits=limits[1])
        key.refresh_from_db()
        assert (key.rate_limit, key.monthly_credits) == (30, 1000)

    def test_renaming_keeps_the_limits(self, owner):
        key, _ = key_create(owner=owner, label="bot", rate_limit=30, monthly_credits=1000)
        key_rename(key=key, label="renamed")
        key.refresh_from_db()
        assert (key.label, key.rate_limit, key.monthly_credits) == ("renamed", 30, 1000)

    def test_a_deleted_keys_limits_cannot_be_changed(self, owner_key, staff):
        key, _ = owner_key
        key_delete(key=key)
        with pytest.raises(ValidationError):
            key_set_limits(key=key, by=staff, rate_limit=5, monthly_credits=None)


@pytest.mark.django_db
class TestDelete:
    def test_a_deleted_key_never_authenticates_but_keeps_its_row(self, owner_key):
        key, raw = owner_key
        assert key_delete(key=key) is True
        assert authenticated(raw) is None
        key.refresh_from_db()
        assert key.deleted_at is not None and key.label == "pricing bot"
        assert key.status == "Deleted"

    def test_it_leaves_the_keys_table(self, owner_key, owner):
        key, _ = owner_key
        key_delete(key=key)
        assert list(keys_visible_to(owner)) == []

    def test_deleting_twice_is_harmless(self, owner_key):
        key, _ = owner_key
        first = key.deleted_at
        assert key_delete(key=key) is True
        stamp = ApiKey.objects.get(pk=key.pk).deleted_at
        assert key_delete(key=ApiKey.objects.get(pk=key.pk)) is False
        assert ApiKey.objects.get(pk=key.pk).deleted_at == stamp
        assert first is None

    def test_bulk_delete_counts_only_active_keys(self, owner):
        a, _ = key_create(owner=owner, label="a")
        key_create(owner=owner, label="b")
        key_delete(key=a)
        assert keys_delete(queryset=ApiKey.objects.all()) == 1
        assert not ApiKey.objects.active().exists()


@pytest.mark.django_db
def test_members_see_their_own_keys_and_staff_see_all(owner, teammate, staff):
    mine, _ = key_create(owner=owner, label="mine")
    theirs, _ = key_create(owner=teammate, label="theirs")
    assert list(keys_visible_to(owner)) == [mine]
    assert list(keys_visible_to(teammate)) == [theirs]
    assert set(keys_visible_to(staff)) == {mine, theirs}

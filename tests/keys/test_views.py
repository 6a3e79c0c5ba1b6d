import pytest
from django.test import Client
from django.urls import reverse

from keys.models import ApiKey
from keys.services import key_create, key_update
from tests.support import authenticated
from usage.plan.services import plan_update

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

pytestmark = pytest.mark.django_db


def key_urls(pk):
    return [reverse("keys:edit", args=[pk]), reverse("keys:delete", args=[pk])]


class TestList:
    def test_it_shows_the_owners_keys_masked(self, owner_client, owner_key):
        key, raw = owner_key
        response = owner_client.get(reverse("keys:list"))
        assert response.status_code == 200
        body = response.content.decode()
        assert "pricing bot" in body
        assert key.masked in body
        assert raw not in body
        assert "Never" in body  # last used, until the proxy sees the key

    def test_it_hides_a_teammates_keys(self, teammate_client, owner_key):
        key, _ = owner_key
        body = teammate_client.get(reverse("keys:list")).content.decode()
        assert key.prefix not in body
        assert "No API keys yet" in body

    def test_staff_see_everyones_keys_with_their_owner(self, staff_client, owner_key):
        key, _ = owner_key
        body = staff_client.get(reverse("keys:list")).content.decode()
        assert key.prefix in body and "alice" in body

    def test_deleted_keys_leave_the_table(self, owner_client, owner_key):
        key, _ = owner_key
        owner_client.post(reverse("keys:delete", args=[key.pk]))
        assert key.prefix not in owner_client.get(reverse("keys:list")).content.decode()


class TestCreate:
    def test_it_shows_the_new_key_once(self, owner_client, owner):
        response = owner_client.post(reverse("keys:create"), {"label": "pricing bot"})
        assert response.status_code == 200
        key = ApiKey.objects.get(owner=owner)
        raw = response.context["raw_key"]
        assert authenticated(raw) == key.pk
        body = response.content.decode()
        assert raw in body
        assert "will not be shown again" in body
        assert "no-store" in response["Cache-Control"]
        # Nowhere afterwards.
        assert raw not in owner_client.get(reverse("keys:list")).content.decode()
        assert raw not in owner_client.get(reverse("home")).content.decode()

    def test_htmx_gets_the_panel_and_a_fresh_table(self, owner_client):
        response = owner_client.post(reverse("keys:create"), {"label": "bot"}, **HTMX)
        body = response.content.decode()
        assert "<html" not in body
        assert 'id="key-table" hx-swap-oob="true"' in body
        assert response.context["raw_key"] in body

    def test_the_form_page_works_without_javascript(self, owner_client):
        response = owner_client.get(reverse("keys:create"))
        body = response.content.decode()
        assert "<html" in body and 'name="label"' in body
        assert 'action="/keys/new/"' in body

    @pytest.mark.parametrize(
        ("label", "error"), [("", "This field is required."), ("x" * 101, "at most 100")]
    )
    def test_bad_labels_get_an_inline_error(self, owner_client, label, error):
        response = owner_client.post(reverse("keys:create"), {"label": label})
        assert response.status_code == 200
        assert error in response.content.decode()
        assert 'id="error_1_id_label"' in response.content.decode()
        assert not ApiKey.objects.exists()

    def test_a_duplicate_label_gets_an_inline_error(self, owner_client, owner_key):
        response = owner_client.post(reverse("keys:create"), {"label": "Pricing Bot"}, **HTMX)
        body = response.content.decode()
        assert "You already have an active key with this label." in body
        assert 'id="error_1_id_label"' in body
        assert ApiKey.objects.count() == 1


class TestEdit:
    def test_the_owner_renames_their_key(self, owner_client, owner_key):
        key, _ = owner_key
        url = reverse("keys:edit", args=[key.pk])
        assert 'value="pricing bot"' in owner_client.get(url).content.decode()
        response = owner_client.post(url, {"label": "renamed"})
        assert response.status_code == 302 and response["Location"] == reverse("keys:list")
        key.refresh_from_db()
        assert key.label == "renamed"
        assert "Saved “renamed”." in owner_client.get(reverse("keys:list")).content.decode()

    def test_htmx_gets_the_message_and_a_fresh_table(self, owner_client, owner_key):
        key, _ = owner_key
        response = owner_client.post(
            reverse("keys:edit", args=[key.pk]), {"label": "renamed"}, **HTMX
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert (
            "Saved “renamed”." in body and 'hx-swap-oob="true"' in body and "renamed</td>" in body
        )

    def test_staff_see_what_a_blank_limit_falls_back_to(self, staff_client, owner_key):
        plan_update(monthly_credits=250000, rate_limit=120)
        key, _ = owner_key
        body = staff_client.get(reverse("keys:edit", args=[key.pk])).content.decode()
        assert "Leave blank to use the plan's: 250,000 a month." in body
        assert "Leave blank to use the plan's: 120 per minute." in body

    def test_the_table_shows_each_keys_own_limits(self, owner_client, owner):
        plan = plan_update(rate_limit=120)
        key_create(owner=owner, label="own", rate_limit=30, monthly_credits=5000)
        key_create(owner=owner, label="shared")
        body = owner_client.get(reverse("keys:list")).content.decode()
        own = body[body.index("own</td>") :]
        assert "30/min" in own[: own.index("</tr>")] and "5,000 credits/month" in own
        shared = body[body.index("shared</td>") :]
        assert f"plan's {plan.rate_limit}/min" in shared[: shared.index("</tr>")]

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"label": ""}, "This field is required."),
            ({"label": "ok", "rate_limit": "0"}, "greater than or equal to 1"),
            ({"label": "ok", "rate_limit": "ten"}, "Enter a whole number."),
            ({"label": "ok", "monthly_credits": "99999999999999999999"}, "less than or equal to"),
        ],
    )
    def test_bad_values_get_an_inline_error_and_change_nothing(
        self, staff_client, owner_key, data, error
    ):
        key, _ = owner_key
        response = staff_client.post(reverse("keys:edit", args=[key.pk]), data)
        assert response.status_code == 200
        assert error in response.content.decode()
        key.refresh_from_db()
        assert (key.label, key.rate_limit, key.monthly_credits) == ("pricing bot", None, None)

    def test_staff_can_edit_a_members_key(self, staff_client, owner_key):
        key, _ = owner_key
        staff_client.post(reverse("keys:edit", args=[key.pk]), {"label": "by staff"})
        key.refresh_from_db()
        assert key.label == "by staff"


class TestLimits:
    """A key's limits are the team's budget: staff set them, members only see them."""

    @pytest.fixture
    def limited_key(self, owner_key):
        key, _ = owner_key
        key_update(key=key, label=key.label, rate_limit=30, monthly_credits=1000)
        return key

    def test_staff_set_and_clear_a_members_limits(self, staff_client, owner_key):
        key, _ = owner_key
        url = reverse("keys:edit", args=[key.pk])
        assert 'name="rate_limit"' in staff_client.get(url).content.decode()
        staff_client.post(url, {"label": "bot", "rate_limit": "30", "monthly_credits": ""})
        key.refresh_from_db()
        assert (key.label, key.rate_limit, key.monthly_credits) == ("bot", 30, None)
        staff_client.post(url, {"label": "bot", "rate_limit": "", "monthly_credits": ""})
        key.refresh_from_db()
        assert (key.rate_limit, key.monthly_credits) == (None, None)

    def test_a_member_sees_the_limits_read_only(self, owner_client, limited_key):
        body = owner_client.get(reverse("keys:edit", args=[limited_key.pk])).content.decode()
        assert 'name="rate_limit"' not in body and 'name="monthly_credits"' not in body
        assert ">30</dd>" in body and ">1,000</dd>" in body
        assert "Only staff set a key's limits." in body

    @pytest.mark.parametrize(
        "posted",
        [
            {"rate_limit": "", "monthly_credits": ""},  # blank: would fall back to the plan's
            {"rate_limit": "100000", "monthly_credits": "2000000000"},
        ],
    )
    def test_a_member_posting_limits_by_hand_changes_only_the_label(
        self, owner_client, limited_key, posted
    ):
        url = reverse("keys:edit", args=[limited_key.pk])
        response = owner_client.post(url, {"label": "renamed", **posted})
        assert response.status_code == 302
        limited_key.refresh_from_db()
        assert limited_key.label == "renamed"
        assert (limited_key.rate_limit, limited_key.monthly_credits) == (30, 1000)

    def test_a_refused_label_leaves_the_limits_as_they_were(self, staff_client, owner, owner_key):
        key, _ = owner_key
        key_create(owner=owner, label="taken")
        staff_client.post(
            reverse("keys:edit", args=[key.pk]),
            {"label": "Taken", "rate_limit": "5", "monthly_credits": "5"},
        )
        key.refresh_from_db()
        assert (key.label, key.rate_limit, key.monthly_credits) == ("pricing bot", None, None)


class TestOwnerDeactivated:
    def test_staff_see_that_the_owner_is_deactivated(self, staff_client, owner, owner_key):
        key, _ = owner_key
        url = reverse("keys:list")
        assert 'data-testid="owner-deactivated"' not in staff_client.get(url).content.decode()
        owner.is_active = False
        owner.save(update_fields=["is_active"])
        body = staff_client.get(url).content.decode()
        row = body[body.index(f'data-key-id="{key.pk}"') :]
        row = row[: row.index("</tr>")]
        assert "owner deactivated" in row and ">Active<" not in row


class TestDelete:
    def test_it_asks_first_then_deletes(self, owner_client, owner_key):
        key, raw = owner_key
        url = reverse("keys:delete", args=[key.pk])
        confirm = owner_client.get(url)
        assert "Delete “pricing bot”?" in confirm.content.decode()
        assert authenticated(raw) == key.pk  # asking deletes nothing
        response = owner_client.post(url)
        assert response.status_code == 302
        assert authenticated(raw) is None
        assert ApiKey.objects.filter(pk=key.pk).exists()  # history stays

    def test_htmx_gets_the_message_and_a_table_without_the_key(self, owner_client, owner_key):
        key, _ = owner_key
        body = owner_client.post(reverse("keys:delete", args=[key.pk]), **HTMX).content.decode()
        assert "Deleted “pricing bot”." in body and key.prefix not in body

    def test_a_deleted_key_is_gone_for_its_owner_too(self, owner_client, owner_key):
        key, _ = owner_key
        owner_client.post(reverse("keys:delete", args=[key.pk]))
        for url in key_urls(key.pk):
            assert owner_client.get(url).status_code == 404


class TestAccess:
    @pytest.mark.parametrize("method", ["get", "post"])
    def test_a_teammate_gets_404_and_changes_nothing(self, teammate_client, owner_key, method):
        key, raw = owner_key
        for url in key_urls(key.pk):
            data = {"label": "hijacked"} if method == "post" else None
            response = getattr(teammate_client, method)(url, data)
            assert response.status_code == 404
            assert "pricing bot" not in response.content.decode()
        key.refresh_from_db()
        assert key.label == "pricing bot" and authenticated(raw) == key.pk

    def test_an_unknown_key_is_404_too(self, owner_client):
        for url in key_urls(999999):
            assert owner_client.get(url).status_code == 404

    @pytest.mark.parametrize(
        "name", ["home", "keys:list", "keys:create", "keys:edit", "keys:delete"]
    )
    def test_anonymous_users_are_sent_to_log_in(self, client, owner_key, name):
        key, _ = owner_key
        url = (
            reverse(name, args=[key.pk]) if name in ("keys:edit", "keys:delete") else reverse(name)
        )
        for response in (client.get(url), client.post(url, {"label": "x"})):
            assert response.status_code == 302
            assert response["Location"] == f"{reverse('login')}?next={url}"
        key.refresh_from_db()
        assert key.label == "pricing bot" and key.is_active

    @pytest.mark.parametrize(
        ("name", "methods"),
        [
            ("home", ["post", "put", "delete"]),
            ("keys:list", ["post", "put", "delete"]),
            ("keys:create", ["put", "patch", "delete"]),
            ("keys:edit", ["put", "patch", "delete"]),
            ("keys:delete", ["put", "patch", "delete"]),
        ],
    )
    def test_the_wrong_method_gets_405(self, owner_client, owner_key, name, methods):
        key, _ = owner_key
        url = (
            reverse(name, args=[key.pk]) if name in ("keys:edit", "keys:delete") else reverse(name)
        )
        for method in methods:
            assert getattr(owner_client, method)(url).status_code == 405, method
        key.refresh_from_db()
        assert key.is_active

    @pytest.mark.parametrize("name", ["keys:create", "keys:edit", "keys:delete"])
    def test_a_post_without_csrf_token_is_refused(self, owner, owner_key, name):
        key, _ = owner_key
        url = reverse(name) if name == "keys:create" else reverse(name, args=[key.pk])
        csrf_client = Client(enforce_csrf_checks=True)
        csrf_client.force_login(owner)
        response = csrf_client.post(url, {"label": "forged"})
        assert response.status_code == 403
        assert ApiKey.objects.count() == 1
        key.refresh_from_db()
        assert key.label == "pricing bot" and key.is_active

    def test_a_post_with_the_pages_csrf_token_goes_through(self, owner):
        csrf_client = Client(enforce_csrf_checks=True)
        csrf_client.force_login(owner)
        page = csrf_client.get(reverse("keys:create"))
        token = page.context["csrf_token"]
        response = csrf_client.post(
            reverse("keys:create"), {"label": "real", "csrfmiddlewaretoken": str(token)}
        )
        assert response.status_code == 200
        assert ApiKey.objects.filter(label="real").exists()


class TestEscaping:
    def test_a_script_label_comes_back_escaped_everywhere(self, owner_client, owner):
        created = owner_client.post(reverse("keys:create"), {"label": XSS})
        key = ApiKey.objects.get(owner=owner)
        assert key.label == XSS
        pages = [
            created,
            owner_client.get(reverse("keys:list")),
            owner_client.get(reverse("home")),
            owner_client.get(reverse("keys:edit", args=[key.pk])),
            owner_client.get(reverse("keys:delete", args=[key.pk])),
            owner_client.post(reverse("keys:edit", args=[key.pk]), {"label": XSS}, **HTMX),
        ]
        for response in pages:
            body = response.content.decode()
            assert XSS not in body, response.request["PATH_INFO"]
            assert XSS_ESCAPED in body, response.request["PATH_INFO"]

    def test_escaped_in_the_success_message(self, owner_client, owner):
        key, _ = key_create(owner=owner, label="safe")
        owner_client.post(reverse("keys:edit", args=[key.pk]), {"label": XSS})
        body = owner_client.get(reverse("keys:list")).content.decode()
        assert XSS not in body and f"Saved “{XSS_ESCAPED}”." in body

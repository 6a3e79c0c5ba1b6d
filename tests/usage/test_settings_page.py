"""The settings page: staff change the plan, alerts and overage; members only look."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from usage.models import Plan, PlanChange

pytestmark = pytest.mark.django_db

PAGE = "/usage/settings/"
ACTIONS = [
    ("post", "/usage/settings/plan/", {"name": "Lite", "monthly_credits": 9, "rate_limit": 9}),
    ("post", "/usage/settings/alerts/", {"thresholds": "10", "recipients": "", "webhook_url": ""}),
    ("post", "/usage/settings/alerts/toggle/", {"value": "off"}),
    ("get", "/usage/settings/overage/", {"value": "on"}),
    ("post", "/usage/settings/overage/", {"value": "on"}),
]


def plan_values():
    plan = Plan.load()
    return (
        plan.name,
        plan.monthly_credits,
        plan.rate_limit,
        plan.overage,
        plan.alerts_enabled,
        plan.thresholds,
    )


def change_row(setting: str, old: str, new: str) -> str:
    """The change history's cells for one change, as the page renders them."""
    return (
        f'<td data-label="Setting">{setting}</td>'
        f'<td data-label="From" class="text-break">{old}</td>'
        f'<td data-label="To" class="text-break">{new}</td>'
    )


class TestPermissions:
    @pytest.mark.parametrize("method,url,data", [("get", PAGE, {}), *ACTIONS])
    def test_anonymous_goes_to_log_in(self, client, plan, method, url, data):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    @pytest.mark.parametrize("method,url,data", ACTIONS)
    def test_a_member_cannot_change_anything(self, teammate_client, plan, method, url, data):
        before = plan_values()
        assert getattr(teammate_client, method)(url, data).status_code == 403
        assert plan_values() == before
        assert not PlanChange.objects.exists()

    def test_a_member_sees_the_settings_read_only(self, teammate_client, plan):
        page = teammate_client.get(PAGE).content.decode()
        assert "Read-only: only staff can change the settings." in page
        assert "Analyst" in page and "50%, 75%, 90%, 100%" in page
        assert "<form" not in page.split("<main")[1].split("Change history")[0]
        assert "Turn On Overage" not in page

    def test_staff_see_the_forms(self, staff_client, plan):
        page = staff_client.get(PAGE).content.decode()
        assert 'name="monthly_credits"' in page and 'name="thresholds"' in page
        assert "Turn On Overage" in page and ">Settings</a>" in page

    def test_a_post_without_csrf_token_is_refused(self, staff, plan):
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff)
        response = client.post("/usage/settings/overage/", {"value": "on"})
        assert response.status_code == 403
        assert Plan.load().overage is False


class TestPlanAndAlerts:
    def test_saving_the_plan_records_who_changed_what(self, staff_client, plan):
        response = staff_client.post(
            "/usage/settings/plan/", {"name": "Lite", "monthly_credits": 2000, "rate_limit": 100}
        )
        assert response.status_code == 302
        page = staff_client.get(PAGE).content.decode()
        assert "Saved the plan." in page
        changes = list(PlanChange.objects.values_list("actor", "field", "old", "new"))
        assert sorted(changes) == [
            ("carol", "monthly_credits", "1000", "2000"),
            ("carol", "name", "Analyst", "Lite"),
        ]
        assert change_row("Monthly call credits", "1,000", "2,000") in page

    def test_htmx_save_returns_the_section_and_the_history(self, staff_client, plan):
        response = staff_client.post(
            "/usage/settings/alerts/",
            {"thresholds": "90, 50", "recipients": "ops@example.com", "webhook_url": ""},
            HTTP_HX_REQUEST="true",
        )
        body = response.content.decode()
        assert response.status_code == 200 and "<html" not in body
        assert 'id="settings-alerts"' in body and "Saved the alert settings." in body
        assert 'id="settings-history" class="mt-2" hx-swap-oob="true"' in body
        assert change_row("Alert thresholds", "50, 75, 90, 100 %", "50, 90 %") in body
        assert Plan.load().recipient_list == ["ops@example.com"]

    @pytest.mark.parametrize(
        "field,value,error",
        [
            ("thresholds", "50,abc", "“abc” is not a whole number of percent."),
            ("thresholds", "50,150", "150 is out of range"),
            ("thresholds", "", "This field is required."),
            ("recipients", "ops@example.com, nope", "“nope” is not an email address."),
            ("webhook_url", "ftp://example.com/x", "Enter a valid URL."),
        ],
    )
    def test_bad_alert_values_get_inline_errors(self, staff_client, plan, field, value, error):
        data = {"thresholds": "50", "recipients": "", "webhook_url": ""} | {field: value}
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = staff_client.post("/usage/settings/alerts/", data, **htmx)
            body = response.content.decode()
            assert response.status_code == 200
            assert error in body and "invalid-feedback" in body
        assert Plan.load().thresholds == "50,75,90,100"
        assert not PlanChange.objects.exists()

    @pytest.mark.parametrize(
        "data,error",
        [
            ({"name": " ", "monthly_credits": 10, "rate_limit": 10}, "This field is required."),
            ({"name": "A", "monthly_credits": 0, "rate_limit": 10}, "greater than or equal to 1"),
            ({"name": "A", "monthly_credits": 10, "rate_limit": "x"}, "Enter a whole number."),
        ],
    )
    def test_bad_plan_values_get_inline_errors(self, staff_client, plan, data, error):
        response = staff_client.post("/usage/settings/plan/", data)
        assert error in response.content.decode()
        assert Plan.load().name == "Analyst"

    def test_alerts_toggle_off_and_on(self, staff_client, plan):
        staff_client.post("/usage/settings/alerts/toggle/", {"value": "off"})
        assert Plan.load().alerts_enabled is False
        body = staff_client.post(
            "/usage/settings/alerts/toggle/", {"value": "on"}, HTTP_HX_REQUEST="true"
        ).content.decode()
        assert "Call consumption alerts are on." in body and "Turn Off Alerts" in body
        assert list(PlanChange.objects.order_by("id").values_list("old", "new")) == [
            ("on", "off"),
            ("off", "on"),
        ]


class TestOverage:
    def test_turning_overage_on_asks_for_confirmation_first(self, staff_client, plan):
        confirm = staff_client.get("/usage/settings/overage/", {"value": "on"}).content.decode()
        assert "Turn On Overage?" in confirm and 'value="on"' in confirm
        assert Plan.load().overage is False  # asking changes nothing
        staff_client.post("/usage/settings/overage/", {"value": "on"})
        page = staff_client.get(PAGE).content.decode()
        assert Plan.load().overage is True
        assert "Overage is on: calls past the monthly credits go through" in page
        assert "Turn Off Overage" in page
        assert '<td data-label="Who">carol</td>' + change_row("Overage", "off", "on") in page

    def test_turning_overage_off_through_htmx(self, staff_client, plan):
        plan.overage = True
        plan.save()
        confirm = staff_client.get(
            "/usage/settings/overage/", {"value": "off"}, HTTP_HX_REQUEST="true"
        ).content.decode()
        assert "Turn Off Overage?" in confirm and "refused at once" in confirm
        done = staff_client.post(
            "/usage/settings/overage/", {"value": "off"}, HTTP_HX_REQUEST="true"
        ).content.decode()
        assert "Overage is off: calls past the monthly credits are refused." in done
        assert Plan.load().overage is False

    @pytest.mark.parametrize("htmx", [True, False])
    def test_turning_alerts_off_keeps_what_was_typed_and_not_saved(self, staff_client, plan, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        typed = {"thresholds": "50, 75, 90, 100", "recipients": "ops@example.com"}
        response = staff_client.post(
            "/usage/settings/alerts/toggle/",
            {"value": "off", **typed, "webhook_url": ""},
            **headers,
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert Plan.load().alerts_enabled is False
        assert Plan.load().recipients == ""  # the switch saves only itself
        assert "ops@example.com</textarea>" in body
        assert "not saved yet" in body

    def test_a_bad_toggle_value_is_an_error_not_a_change(self, staff_client, plan):
        body = staff_client.post("/usage/settings/overage/", {"value": "maybe"}).content.decode()
        assert "Choose on or off." in body
        assert Plan.load().overage is False


class TestAdminAndCommand:
    def test_changes_are_listed_in_the_admin(self, staff_client, plan):
        staff_client.post("/usage/settings/overage/", {"value": "on"})
        page = staff_client.get("/admin/usage/planchange/").content.decode()
        assert "carol" in page and "overage" in page

    def test_an_admin_edit_of_the_plan_is_recorded_too(self, staff_client, plan):
        data = {
            "name": "Analyst",
            "monthly_credits": 1000,
            "rate_limit": 250,
            "overage": "",
            "alerts_enabled": "on",
            "thresholds": "50,75,90,100",
            "recipients": "",
            "webhook_url": "",
        }
        assert staff_client.post("/admin/usage/plan/1/change/", data).status_code == 302
        change = PlanChange.objects.get()
        assert (change.actor, change.field, change.old, change.new) == (
            "carol",
            "rate_limit",
            "100",
            "250",
        )

    def test_setplan_sets_the_alert_options_and_records_them(self, plan):
        out = io.StringIO()
        call_command(
            "setplan",
            "--alerts",
            "off",
            "--thresholds",
            "80,100",
            "--recipients",
            "a@example.com,b@example.com",
            "--webhook",
            "https://hooks.example.com/x",
            stdout=out,
        )
        plan = Plan.load()
        assert (plan.alerts_enabled, plan.thresholds, plan.webhook_url) == (
            False,
            "80,100",
            "https://hooks.example.com/x",
        )
        assert plan.recipient_list == ["a@example.com", "b@example.com"]
        assert "alerts off at 80,100 %" in out.getvalue()
        assert set(PlanChange.objects.values_list("actor", flat=True)) == {"setplan"}
        assert PlanChange.objects.count() == 4

    @pytest.mark.parametrize(
        "args,error",
        [
            (["--thresholds", "0,50"], "thresholds: 0 is out of range"),
            (["--recipients", "x"], "recipients: “x” is not an email address."),
            (["--webhook", "nope"], "webhook_url: Enter a valid URL."),
        ],
    )
    def test_setplan_refuses_bad_alert_options(self, plan, args, error):
        with pytest.raises(CommandError, match=error):
            call_command("setplan", *args)
        assert not PlanChange.objects.exists()

"""Staff turn the response cache on and set its times on the Settings page and with setplan."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from usage.models import Plan, PlanChange

pytestmark = pytest.mark.django_db

PAGE = "/usage/settings/"
TOGGLE = "/usage/settings/cache/"
TIMES = "/usage/settings/cache/ttls/"


def test_it_is_off_on_a_fresh_install_and_the_page_shows_the_times_and_their_source(
    staff_client, plan
):
    page = staff_client.get(PAGE).content.decode()
    assert "The response cache is <strong>off</strong>" in page
    assert "Turn On Response Cache" in page
    assert "<code>/simple/price</code>" in page
    assert "CoinGecko: data updated every 20 s on paid plans" in page
    assert "<code>/global</code>" in page and 'value="600"' in page


def test_turning_it_on_asks_first_then_records_who_did_it(staff_client, staff, plan):
    confirm = staff_client.get(TOGGLE, {"value": "on"}, HTTP_HX_REQUEST="true")
    assert "Turn On Response Cache?" in confirm.content.decode()
    assert Plan.load().cache_enabled is False  # asking changes nothing
    done = staff_client.post(TOGGLE, {"value": "on"}, HTTP_HX_REQUEST="true")
    assert "The response cache is on" in done.content.decode()
    assert Plan.load().cache_enabled is True
    change = PlanChange.objects.get()
    assert (change.actor, change.field, change.old, change.new) == (
        staff.username,
        "cache_enabled",
        "off",
        "on",
    )


def test_without_javascript_the_toggle_redirects_back_with_a_message(staff_client, plan):
    response = staff_client.post(TOGGLE, {"value": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "The response cache is on" in response.content.decode()


def test_staff_change_a_time_and_add_an_endpoint(staff_client, plan):
    response = staff_client.post(
        TIMES,
        {
            "ttl:/simple/price": "5",
            "ttl:/global": "600",
            "new_endpoint": "/coins/bitcoin/ohlc",
            "new_seconds": "120",
        },
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "Saved the cache times." in page
    assert "set by staff (default 20 s)" in page
    assert "<code>/coins/{id}/ohlc</code>" in page
    assert Plan.load().cache_ttls == '{"/coins/{id}/ohlc":120,"/simple/price":5}'


@pytest.mark.parametrize(
    "data,error",
    [
        ({"ttl:/simple/price": "soon"}, "“soon” is not a whole number of seconds."),
        ({"ttl:/simple/price": "-1"}, "-1 is out of range: 0 to 86400 seconds."),
        ({"new_endpoint": "/global"}, "Give the new endpoint and its seconds, or neither."),
        ({"new_endpoint": "ping", "new_seconds": "5"}, "is not ENDPOINT=SECONDS"),
        ({"new_endpoint": "/key", "new_seconds": "5"}, "/key is answered by Tollgate itself"),
    ],
)
def test_bad_times_are_shown_inline_and_change_nothing(staff_client, plan, data, error):
    response = staff_client.post(TIMES, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert error in response.content.decode()
    assert Plan.load().cache_ttls == ""
    assert not PlanChange.objects.exists()


@pytest.mark.parametrize(
    "method,url,data",
    [
        ("get", TOGGLE, {"value": "on"}),
        ("post", TOGGLE, {"value": "on"}),
        ("post", TIMES, {"ttl:/global": "1"}),
    ],
)
def test_a_member_cannot_change_the_cache(teammate_client, plan, method, url, data):
    assert getattr(teammate_client, method)(url, data).status_code == 403
    assert (Plan.load().cache_enabled, Plan.load().cache_ttls) == (False, "")


def test_a_member_sees_the_times_read_only(teammate_client, plan):
    page = teammate_client.get(PAGE).content.decode()
    assert "<code>/simple/price</code>" in page
    assert 'name="ttl:/simple/price"' not in page


def test_the_forms_need_the_csrf_token(staff, plan):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(TOGGLE, {"value": "on"}).status_code == 403
    assert client.post(TIMES, {"ttl:/global": "1"}).status_code == 403
    assert Plan.load().cache_enabled is False


def test_setplan_turns_the_cache_on_and_sets_times(plan):
    out = io.StringIO()
    call_command("setplan", "--cache", "on", "--cache-ttl", "/global=300,/search=30", stdout=out)
    plan = Plan.load()
    assert plan.cache_enabled is True
    assert plan.cache_ttls == '{"/global":300,"/search":30}'
    assert "response cache on:" in out.getvalue() and "/search 30 s" in out.getvalue()
    assert {c.actor for c in PlanChange.objects.all()} == {"setplan"}


def test_setplan_refuses_a_bad_time_and_changes_nothing(plan):
    with pytest.raises(CommandError, match="is not a whole number of seconds"):
        call_command("setplan", "--cache", "on", "--cache-ttl", "/global=often")
    assert Plan.load().cache_enabled is False

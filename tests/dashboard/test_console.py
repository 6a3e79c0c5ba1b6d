import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tests.support import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_member_logs_in_and_lands_on_the_dashboard(client, owner, owner_key):
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True
    )
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Developer Dashboard" in body
    assert "http://testserver/api/v3/" in body
    assert owner_key[0].masked in body


def test_a_wrong_password_is_refused_inline(client, owner):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_log_out_is_a_post(owner_client):
    assert owner_client.get(reverse("logout")).status_code == 405
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert owner_client.get(reverse("home")).status_code == 302


def test_a_member_changes_their_password(owner_client, owner):
    response = owner_client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-new-long-passphrase")


def test_an_unknown_page_is_a_plain_404(owner_client):
    response = owner_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


class TestEnsureAdmin:
    def test_on_a_fresh_database_it_creates_admin_and_prints_the_password_once(self):
        out = io.StringIO()
        call_command("ensureadmin", stdout=out)
        text = out.getvalue()
        password = text.split("password: ")[1].split()[0]
        admin = get_user_model().objects.get(username="admin")
        assert admin.is_superuser and admin.check_password(password)
        assert password not in admin.password  # stored hashed

        again = io.StringIO()
        call_command("ensureadmin", stdout=again)
        assert "password" not in again.getvalue()
        assert get_user_model().objects.filter(is_superuser=True).count() == 1

    def test_it_leaves_an_existing_superuser_alone(self, staff):
        out = io.StringIO()
        call_command("ensureadmin", stdout=out)
        assert "password" not in out.getvalue()
        assert not get_user_model().objects.filter(username="admin").exists()


def test_the_home_page_shows_how_much_is_used(owner_client, owner, teammate, clock):
    from keys.services import key_create
    from tests.support import record_call
    from usage.plan.services import plan_update

    plan_update(monthly_credits=200)
    mine, _ = key_create(owner=owner, label="mine", monthly_credits=10)
    theirs, _ = key_create(owner=teammate, label="theirs")
    for _ in range(5):
        record_call(mine, clock.now)
    record_call(theirs, clock.now)
    body = owner_client.get(reverse("home")).content.decode()
    # The plan: 6 of 200 credits (3 %); the member's own key: 5 of its own 10 (50 %).
    assert 'data-testid="home-credits">6<' in body
    assert '"percent">3%</span> used of 200' in body[body.index('data-testid="used-the-plan"') :]
    assert '"percent">50%</span> used of 10' in body[body.index('data-testid="used-mine"') :]
    assert "theirs" not in body


def test_there_is_a_favicon(client, owner):
    client.force_login(owner)
    assert 'rel="icon" href="/static/favicon.svg"' in client.get(reverse("home")).content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"

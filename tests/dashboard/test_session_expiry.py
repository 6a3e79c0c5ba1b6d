"""An htmx request without a session: the browser goes to the login page, and back to the
page it was on afterwards (the browser side is in tests/e2e/test_session_expiry.py)."""

import pytest
from django.urls import reverse

from tests.support import PASSWORD

pytestmark = pytest.mark.django_db


def htmx_get(client, url, page):
    return client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}")


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("/usage/live/", "/usage/"),
        ("/keys/new/", "/keys/"),
        ("/usage/history/?timeframe=7d", "/usage/history/?timeframe=last_month"),
    ],
)
def test_it_sends_the_browser_to_log_in_and_back_to_the_page(client, url, page):
    response = htmx_get(client, url, page)
    assert response.status_code == 200
    assert response.content == b""  # nothing to swap into the panel
    login = response["HX-Redirect"]
    assert login.startswith(reverse("login") + "?next=")
    response = client.get(login)
    assert response.context["next"] == page


def test_a_post_without_a_session_goes_the_same_way(client):
    response = client.post(
        reverse("keys:create"),
        {"label": "bot"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/keys/",
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=/keys/"


def test_logging_in_from_there_returns_to_the_page(client, owner):
    login = htmx_get(client, "/usage/live/", "/usage/")["HX-Redirect"]
    response = client.post(login, {"username": "alice", "password": PASSWORD, "next": "/usage/"})
    assert response.status_code == 302 and response["Location"] == "/usage/"


def test_another_sites_page_is_never_the_way_back(client):
    response = client.get(
        "/usage/live/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=/"


def test_without_htmx_it_is_the_usual_redirect(client):
    response = client.get("/usage/live/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/usage/live/"
    assert "HX-Redirect" not in response


def test_a_logged_in_htmx_request_is_left_alone(owner_client):
    response = htmx_get(owner_client, "/usage/live/", "/usage/")
    assert response.status_code == 200 and "HX-Redirect" not in response

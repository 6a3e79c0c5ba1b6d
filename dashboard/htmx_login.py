"""An htmx request without a session sends the browser to the login page.

``login_required`` answers a redirect to the login page, which an htmx request follows
in the background: the login page would be swapped into the panel that asked (the live
"calls this minute" card, the add-key panel), and logging in there would land on the
fragment's URL. Instead the browser itself goes to the login page (``HX-Redirect``),
which returns to the page the person was on (htmx's ``HX-Current-URL``), not the
fragment's URL.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """Below HtmxMiddleware (it reads ``request.htmx``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code != 302:
            return response
        login_path = urlsplit(resolve_url(settings.LOGIN_URL)).path
        if urlsplit(response["Location"]).path != login_path:
            return response
        # Only a page of this site (same origin) may be the way back.
        page = request.htmx.current_url_abs_path or resolve_url(settings.LOGIN_REDIRECT_URL)
        return HttpResponseClientRedirect(redirect_to_login(page).url)

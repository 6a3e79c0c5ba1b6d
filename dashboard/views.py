from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from keys.selectors import keys_visible_to


@login_required
@require_GET
def home(request):
    """The developer dashboard: how to call the API through Tollgate, and one's keys."""
    base_url = request.build_absolute_uri("/api/v3")
    keys = keys_visible_to(request.user).filter(owner=request.user)
    return render(
        request,
        "dashboard/home.html",
        {"base_url": base_url, "keys": keys[:5], "key_count": keys.count()},
    )

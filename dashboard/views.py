from django.contrib.auth.decorators import login_required
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from keys.selectors import keys_visible_to
from usage.metering import windows
from usage.models import Plan
from usage.reports.selectors import month_report


@login_required
@require_GET
def home(request):
    """The developer dashboard: how to call the API through Tollgate, one's keys, and how
    much of the plan and of one's keys' own credits this month has used."""
    base_url = request.build_absolute_uri("/api/v3")
    keys = keys_visible_to(request.user).filter(owner=request.user)
    plan = Plan.load()
    plan_row, key_rows = month_report(keys=list(keys[:5]), plan=plan, now=windows.utc_now())
    context = {
        "base_url": base_url,
        "key_rows": key_rows,
        "key_count": keys.count(),
        "plan": plan,
        "plan_row": plan_row,
    }
    return render(request, "dashboard/home.html", context)


@require_GET
def favicon(request):
    """/favicon.ico, asked for by browsers on pages without an icon link (the admin's).

    Resolved per request: the static file's hashed name exists only after collectstatic.
    """
    return HttpResponsePermanentRedirect(static("favicon.svg"))

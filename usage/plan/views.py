"""The console's settings page: the plan, call consumption alerts, overage, the cache.

Staff change them; members see the same page read-only, and any change they post is
refused with 403. Every form posts plainly (JavaScript off: a redirect back to the page,
or the page again with inline errors) and through htmx (the section alone, with the
change history swapped out of band).
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from usage.cache import policy
from usage.metering import windows
from usage.models import Alert, AlertDelivery, Plan, PlanChange
from usage.plan import services
from usage.plan.forms import AlertsForm, CacheTimesForm, PlanForm, ToggleForm

HISTORY_ROWS = 30
SECTIONS = {
    "plan": "usage/_settings_plan.html",
    "alerts": "usage/_settings_alerts.html",
    "overage": "usage/_settings_overage.html",
    "overage_confirm": "usage/_settings_overage_confirm.html",
    "cache": "usage/_settings_cache.html",
    "cache_confirm": "usage/_settings_cache_confirm.html",
}


def staff_required(view):
    """Logged in (else to the login page) and staff (else 403)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can change the settings.")
        return view(request, *args, **kwargs)

    return wrapper


def _plan_initial(plan: Plan) -> dict:
    return {
        "name": plan.name,
        "monthly_credits": plan.monthly_credits,
        "rate_limit": plan.rate_limit,
    }


def _alerts_initial(plan: Plan) -> dict:
    return {
        "thresholds": ", ".join(str(t) for t in plan.threshold_list),
        "recipients": ", ".join(plan.recipient_list),
        "webhook_url": plan.webhook_url,
    }


def _context(plan: Plan, **overrides) -> dict:
    month = windows.month_start(windows.utc_now())
    context = {
        "plan": plan,
        "plan_form": PlanForm(initial=_plan_initial(plan)),
        "alerts_form": AlertsForm(initial=_alerts_initial(plan)),
        "changes": PlanChange.objects.select_related("user")[:HISTORY_ROWS],
        "month_alerts": Alert.objects.filter(month=month).order_by("scope", "threshold"),
        "pending_deliveries": AlertDelivery.objects.exclude(state=AlertDelivery.State.SENT).count(),
        "ttl_rows": policy.ttl_table(plan.cache_ttls),
        "onchain_row": policy.ONCHAIN_PREFIX + "…",
        "stale_seconds": settings.CACHE_STALE_SECONDS,
    }
    context.update(overrides)
    return context


def _render_section(request, section: str, plan: Plan, *, status: int = 200, **extra):
    """The section alone for htmx (history swapped out of band), else the whole page."""
    context = _context(plan, **extra)
    if request.htmx:
        context["section_template"] = SECTIONS[section]
        return render(request, "usage/_settings_section.html", context, status=status)
    return render(request, "usage/settings.html", context, status=status)


def _saved(request, section: str, message: str):
    if request.htmx:
        return _render_section(request, section, Plan.load(), saved=message, saved_section=section)
    messages.success(request, message)
    return redirect("usage:settings")


def _apply(request, form, section: str, form_key: str, message: str, **changes):
    try:
        services.plan_update(actor=request.user, **changes)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_section(request, section, Plan.load(), **{form_key: form})
    return _saved(request, section, message)


@login_required
@require_GET
def settings_page(request):
    return render(request, "usage/settings.html", _context(Plan.load()))


@staff_required
@require_POST
def plan_save(request):
    form = PlanForm(request.POST)
    if not form.is_valid():
        return _render_section(request, "plan", Plan.load(), plan_form=form)
    return _apply(request, form, "plan", "plan_form", "Saved the plan.", **form.cleaned_data)


@staff_required
@require_POST
def alerts_save(request):
    form = AlertsForm(request.POST)
    if not form.is_valid():
        return _render_section(request, "alerts", Plan.load(), alerts_form=form)
    return _apply(
        request, form, "alerts", "alerts_form", "Saved the alert settings.", **form.cleaned_data
    )


@staff_required
@require_POST
def alerts_toggle(request):
    """Alerts on or off. The switch sits in the alerts form and posts its fields too, so
    edits typed there and not saved yet come back as they were typed (not saved)."""
    form = ToggleForm(request.POST)
    if not form.is_valid():
        return _render_section(request, "alerts", Plan.load(), toggle_error="Choose on or off.")
    plan = services.plan_update(actor=request.user, alerts_enabled=form.is_on)
    word = "on" if form.is_on else "off"
    message = f"Call consumption alerts are {word}."
    saved = _alerts_initial(plan)
    typed = {field: request.POST[field] for field in saved if field in request.POST}
    unsaved = {field: value for field, value in typed.items() if value != saved[field]}
    if not unsaved:
        return _saved(request, "alerts", message)
    message += " Your other changes here are not saved yet: “Save alerts” keeps them."
    extra = {
        "alerts_form": AlertsForm(initial={**saved, **unsaved}),
        "saved": message,
        "saved_section": "alerts",
    }
    if request.htmx:
        return _render_section(request, "alerts", plan, **extra)
    return render(request, "usage/settings.html", _context(plan, **extra))


def _confirmed_toggle(request, *, field: str, section: str, confirm_key: str, said: dict):
    """A switch that asks first. GET: the confirmation (``<section>_confirm``, with
    ``confirm_key`` true to turn it on); POST: the change, then ``said[on or off]``."""
    form = ToggleForm(request.POST or request.GET or None)
    if not form.is_valid():
        return _render_section(request, section, Plan.load(), toggle_error="Choose on or off.")
    if request.method == "GET":
        confirm = f"{section}_confirm"
        return _render_section(request, confirm, Plan.load(), **{confirm_key: form.is_on})
    services.plan_update(actor=request.user, **{field: form.is_on})
    return _saved(request, section, said["on" if form.is_on else "off"])


@staff_required
@require_http_methods(["GET", "POST"])
def overage_toggle(request):
    """GET: the confirmation step ("Turn On Overage?"); POST: the change itself."""
    return _confirmed_toggle(
        request,
        field="overage",
        section="overage",
        confirm_key="confirm_on",
        said={
            "on": "Overage is on: calls past the monthly credits go through as overage.",
            "off": "Overage is off: calls past the monthly credits are refused.",
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def cache_toggle(request):
    """GET: the confirmation step ("Turn On Response Cache?"); POST: the change itself."""
    return _confirmed_toggle(
        request,
        field="cache_enabled",
        section="cache",
        confirm_key="cache_confirm_on",
        said={
            "on": "The response cache is on: repeated calls are answered at no credit.",
            "off": "The response cache is off: every call goes to CoinGecko.",
        },
    )


@staff_required
@require_POST
def cache_ttls_save(request):
    form = CacheTimesForm(request.POST)
    refill = {
        "new_endpoint": request.POST.get("new_endpoint", ""),
        "new_seconds": request.POST.get("new_seconds", ""),
    }
    if not form.is_valid():
        return _render_section(request, "cache", Plan.load(), ttl_errors=form.errors_list, **refill)
    try:
        services.plan_update(actor=request.user, cache_ttls=form.spec)
    except ValidationError as exc:
        return _render_section(request, "cache", Plan.load(), ttl_errors=exc.messages, **refill)
    return _saved(request, "cache", "Saved the cache times.")

"""The console's "API Keys" page: list, add, edit, roll and delete one's own keys.

Each view serves both a full page (plain form posts, JavaScript off) and, for htmx, the
fragment that goes into the page's panel with the refreshed key table swapped out of band.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods

from keys import selectors, services
from keys.forms import KeyCreateForm, KeyEditForm, KeyRollForm, StaffKeyEditForm
from keys.services import GRACE_PERIODS
from usage.models import Plan


def _table_context(user) -> dict:
    """The key table's context: the keys, those expiring within 7 days, and the plan (the
    limits a key without its own falls back to)."""
    keys = list(selectors.keys_visible_to(user))
    expiring = [key for key in keys if key.expires_soon]
    return {"keys": keys, "expiring": expiring, "plan": Plan.load()}


def _render_panel(request, fragment: str, context: dict, *, refresh_table: bool = False):
    """Render ``fragment`` alone for htmx, or inside the full page otherwise.

    After a change, htmx also gets the key table, swapped out of band.
    """
    context = {**context, "fragment": fragment}
    if request.htmx:
        if refresh_table:
            context["refresh_table"] = True
            context.update(_table_context(request.user))
        return render(request, "keys/_panel.html", context)
    return render(request, "keys/page.html", context)


def _raw_key_shown(request, fragment: str, key, raw_key: str):
    response = _render_panel(
        request, fragment, {"key": key, "raw_key": raw_key}, refresh_table=True
    )
    # The responses that carry a raw key must not be kept by any cache.
    add_never_cache_headers(response)
    return response


def _done(request, message: str, *, focus_row: int | None = None):
    """After a successful change: htmx gets the message and a fresh table (``focus_row``:
    the key whose row takes the focus), others a redirect."""
    if request.htmx:
        context = {"message": message, "focus_row": focus_row}
        return _render_panel(request, "keys/_done.html", context, refresh_table=True)
    messages.success(request, message)
    return redirect("keys:list")


@login_required
@require_GET
def key_list(request):
    return render(request, "keys/key_list.html", _table_context(request.user))


@login_required
@require_http_methods(["GET", "POST"])
def key_create(request):
    form = KeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw_key = services.key_create(
                owner=request.user,
                label=form.cleaned_data["label"],
                expires_at=form.cleaned_data["expires_at"],
                allowed_ips=form.cleaned_data["allowed_ips"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _raw_key_shown(request, "keys/_created.html", key, raw_key)
    return _render_panel(request, "keys/_create_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def key_edit(request, pk: int):
    key = selectors.key_get_for_user(user=request.user, pk=pk)
    plan = Plan.load()
    initial = {
        "label": key.label,
        "expires_at": key.expires_at,
        "allowed_ips": key.allowed_ips,
        "rate_limit": key.rate_limit,
        "monthly_credits": key.monthly_credits,
    }
    # Members edit the label, expiry and allowlist; staff also set the key's limits.
    kwargs = {"initial": initial, "current_expiry": key.expires_at}
    if request.user.is_staff:
        form = StaffKeyEditForm(request.POST or None, plan=plan, **kwargs)
    else:
        form = KeyEditForm(request.POST or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # One change: a refused label or expiry leaves everything as it was.
            with transaction.atomic():
                services.key_rename(key=key, label=data["label"])
                services.key_set_access(
                    key=key, expires_at=data["expires_at"], allowed_ips=data["allowed_ips"]
                )
                if "rate_limit" in data:
                    services.key_set_limits(
                        key=key,
                        by=request.user,
                        rate_limit=data["rate_limit"],
                        monthly_credits=data["monthly_credits"],
                    )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _done(request, f"Saved “{key.label}”.", focus_row=key.pk)
    return _render_panel(request, "keys/_edit_form.html", {"form": form, "key": key, "plan": plan})


@login_required
@require_http_methods(["GET", "POST"])
def key_roll(request, pk: int):
    key = selectors.key_get_for_user(user=request.user, pk=pk)
    form = KeyRollForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw_key = services.key_roll(
                key=key, grace=GRACE_PERIODS[form.cleaned_data["grace"]]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _raw_key_shown(request, "keys/_rolled.html", key, raw_key)
    return _render_panel(request, "keys/_roll_confirm.html", {"form": form, "key": key})


@login_required
@require_http_methods(["GET", "POST"])
def key_delete(request, pk: int):
    key = selectors.key_get_for_user(user=request.user, pk=pk)
    if request.method == "POST":
        services.key_delete(key=key)
        return _done(request, f"Deleted “{key.label}”. It can no longer be used.")
    return _render_panel(request, "keys/_delete_confirm.html", {"key": key})

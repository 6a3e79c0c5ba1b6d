"""The console's Team page (staff only) and the invitee's "set your password" page.

Plain forms with a redirect after each change, so everything works without JavaScript.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.team import selectors, services
from dashboard.team.forms import InviteForm
from dashboard.team.tokens import invite_tokens


def staff_only(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff manage the team.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return login_required(wrapped)


def _page(request, form=None, status=200):
    context = {
        "members": selectors.members(),
        "invitations": selectors.pending_invitations(),
        "form": form or InviteForm(),
    }
    return render(request, "team/page.html", context, status=status)


@staff_only
@require_GET
def team(request):
    return _page(request)


@staff_only
@require_POST
def invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.member_invite(
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                invited_by=request.user,
            )
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            _say_how_sending_went(request, invitation, "Invitation sent to")
            return redirect("team:page")
    return _page(request, form, status=400)


@staff_only
@require_POST
def resend(request, pk: int):
    invitation = selectors.pending_invitation(pk)
    services.invitation_send(invitation=invitation)
    _say_how_sending_went(request, invitation, "Invitation sent again to")
    return redirect("team:page")


@staff_only
@require_POST
def revoke(request, pk: int):
    invitation = selectors.pending_invitation(pk)
    email = invitation.user.email
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"Invitation of {email} revoked: its link no longer works.")
    return redirect("team:page")


@staff_only
@require_http_methods(["GET", "POST"])
def deactivate(request, pk: int):
    member = selectors.member(pk)
    if request.method == "POST":
        try:
            services.member_deactivate(member=member, by=request.user)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(
                request, f"{member.get_username()} is deactivated: their keys stopped working."
            )
        return redirect("team:page")
    keys = member.api_keys.filter(deleted_at__isnull=True).count()
    return render(request, "team/deactivate.html", {"member": member, "keys": keys})


@staff_only
@require_POST
def reactivate(request, pk: int):
    member = selectors.member(pk)
    services.member_reactivate(member=member)
    messages.success(request, f"{member.get_username()} is active again, and so are their keys.")
    return redirect("team:page")


def _say_how_sending_went(request, invitation, done: str) -> None:
    if invitation.send_error:
        messages.error(
            request,
            f"The invitation of {invitation.user.email} is saved, but the email could not be "
            f"sent ({invitation.send_error}). Use Resend once the mail server is back.",
        )
    else:
        messages.success(request, f"{done} {invitation.user.email}.")


class AcceptInvitationView(auth_views.PasswordResetConfirmView):
    """The invitation link: Django's reset page with the invitation's own token, then the
    invitee is logged in."""

    token_generator = invite_tokens
    template_name = "team/accept.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.invitation_accept(user=form.user)
        messages.success(self.request, "Welcome to Tollgate: your password is set.")
        return response


class ForgotPasswordView(auth_views.PasswordResetView):
    """Django's "Forgot password?" page; its email links point at CONSOLE_URL, never at the
    Host header of the request (an attacker's host would receive the token). Whether the
    address has an account is never said, and a mail server that is down is logged, not
    shown (Django's own behaviour)."""

    email_template_name = "emails/password-reset-body.txt"
    subject_template_name = "emails/password-reset-subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {
            "console_url": settings.CONSOLE_URL.rstrip("/"),
            "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
        }
        return super().form_valid(form)
